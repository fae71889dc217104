/*
 * compose_merge.c - laying one service over another, the Compose
 * Specification's way.  The same rules serve two purposes: merging the
 * files given with several -f (a later file's service over an earlier
 * one's) and resolving "extends" (the service over its base, which is
 * built first, possibly from another file).  "<<" merge keys are not here:
 * yamltree.c applies them while parsing.
 */
#include "compose_int.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

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

/* Adds src's strings that dst does not hold yet. */
static void merge_strv(struct strv *dst, const struct strv *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (!strv_contains(dst, src->v[i]))
            strv_push(dst, src->v[i]);
}

static void merge_kv(struct compose_kvlist *dst, const struct compose_kvlist *src)
{
    for (size_t i = 0; i < src->n; i++)
        compose_kv_set(dst, src->v[i].key, src->v[i].value);
}

/*
 * Single values and command/entrypoint replace; environment, labels,
 * depends_on and healthcheck merge by key; ports append; volumes merge by
 * target; networks, env_file and profiles add what is new.
 */
void compose_service_merge(struct compose_service *dst, const struct compose_service *src)
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
    merge_kv(&dst->environment, &src->environment);
    merge_strv(&dst->env_file, &src->env_file);
    merge_kv(&dst->labels, &src->labels);
    compose_ports_append(dst, src);
    compose_volumes_merge(dst, src);
    merge_strv(&dst->networks, &src->networks);
    replace_str(&dst->network_mode, src->network_mode);
    compose_depends_on_merge(dst, src);
    compose_healthcheck_merge(&dst->healthcheck, &src->healthcheck);
    replace_str(&dst->restart, src->restart);
    replace_str(&dst->user, src->user);
    replace_str(&dst->working_dir, src->working_dir);
    replace_str(&dst->stop_signal, src->stop_signal);
    if (src->stop_grace_period >= 0)
        dst->stop_grace_period = src->stop_grace_period;
    if (src->init)
        dst->init = 1;
    merge_strv(&dst->profiles, &src->profiles);
    if (src->start_first)
        dst->start_first = 1;
    merge_resources(&dst->limits, &src->limits);
    merge_resources(&dst->reservations, &src->reservations);
    compose_deploy_merge(&dst->deploy, &src->deploy);
    for (size_t i = 0; i < src->nextras; i++)
        compose_extra_set(dst, src->extras[i].key, src->extras[i].value);
    if (src->file) {
        dst->file = src->file;
        dst->line = src->line;
        dst->col = src->col;
    }
}

/* The services: mapping of the file an extends entry names, loading it. */
static const struct ynode *extends_file(struct compose_loader *l, const struct ynode *n,
                                        const struct ynode *ext, const char *file)
{
    char *dir = compose_dir_of(n->file), *path = compose_path_join(dir, file);
    const struct ynode *root = compose_load_doc(l, path, 0);
    free(dir);
    free(path);
    if (!root)
        return NULL;
    const struct ynode *services = ynode_get(root, "services");
    if (!services || services->kind != YNODE_MAP) {
        yread_error(&l->r, ext, "extends file \"%s\" has no services: mapping", file);
        return NULL;
    }
    return services;
}

/* Resolves the extends entry ext of service node n and lays its base into out. */
static int service_build_base(struct compose_loader *l, const struct ynode *services,
                              const struct ynode *n, const struct ynode *ext, struct strv *chain,
                              struct compose_service *out)
{
    char *base_name = NULL, *base_file = NULL;
    struct yfield fields[] = {
        yfield_required(yfield_string("service", &base_name, "extends service"),
                        "extends needs service: the name of the service to extend"),
        yfield_string("file", &base_file, "extends file"),
        yfield_end(),
    };
    int rc = 0;

    if (ext->kind == YNODE_SCALAR)
        base_name = xstrdup(ext->str);
    else if (ext->kind != YNODE_MAP)
        rc = yread_error(&l->r, ext, "extends must be a service name or {service:, file:}");
    else if (yread_fields(&l->r, ext, "extends", fields) < 0)
        rc = -1;
    if (rc == 0 && base_file && !(services = extends_file(l, n, ext, base_file)))
        rc = -1;
    if (rc == 0) {
        struct compose_service base;
        rc = compose_service_build(l, services, base_name, ext, chain, &base);
        if (rc == 0)
            compose_service_merge(out, &base);
        compose_service_clear(&base);
    }
    free(base_name);
    free(base_file);
    return rc;
}

/* "a -> b -> a": the extends cycle that asking for name again closes. */
static int extends_cycle(struct compose_loader *l, const struct ynode *ref,
                         const struct strv *chain, const char *name)
{
    struct buf path = {0};
    for (size_t i = 0; i < chain->n; i++)
        buf_printf(&path, "%s -> ", strchr(chain->v[i], '#') + 1);
    buf_adds(&path, name);
    int rc = yread_error(&l->r, ref, "extends cycle: %s: break it", path.data);
    buf_release(&path);
    return rc;
}

int compose_service_build(struct compose_loader *l, const struct ynode *services, const char *name,
                          const struct ynode *ref, struct strv *chain, struct compose_service *out)
{
    const struct ynode *n = ynode_get(services, name);
    struct buf key = {0};
    int rc = 0;

    compose_service_init(out, name);
    if (!n)
        return yread_error(&l->r, ref,
                           "extends refers to service \"%s\", which is not defined there", name);
    buf_printf(&key, "%s#%s", n->file, name);
    if (strv_contains(chain, key.data)) {
        buf_release(&key);
        return extends_cycle(l, ref, chain, name);
    }
    strv_push_owned(chain, buf_detach(&key));
    const struct ynode *ext = n->kind == YNODE_MAP ? ynode_get(n, "extends") : NULL;
    if (ext && !ynode_is_null(ext))
        rc = service_build_base(l, services, n, ext, chain, out);
    if (rc == 0) {
        struct compose_service local;
        compose_service_init(&local, name);
        rc = compose_service_parse(l, n, &local);
        if (rc == 0)
            compose_service_merge(out, &local);
        compose_service_clear(&local);
    }
    free(chain->v[--chain->n]);
    chain->v[chain->n] = NULL;
    return rc;
}
