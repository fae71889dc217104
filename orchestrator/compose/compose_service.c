/*
 * compose_service.c - one service mapping's keys into struct
 * compose_service: the single values (image, user, restart...), command
 * and entrypoint, environment and labels, env_file, networks and the
 * resources under deploy.  Ports and volumes, depends_on and healthcheck
 * have files of their own; keys the model does not interpret are kept as
 * written (extras) for `config`.
 */
#include "compose_int.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

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

static void update_config_init(struct compose_update_config *u)
{
    u->parallelism = -1;
    u->delay = u->monitor = -1;
    u->max_failure_ratio = -1;
}

static void deploy_init(struct compose_deploy *d)
{
    d->replicas = -1;
    update_config_init(&d->update);
    update_config_init(&d->rollback);
    d->restart_delay = d->restart_window = -1;
    d->restart_max_attempts = -1;
}

static void deploy_clear(struct compose_deploy *d)
{
    free(d->mode);
    free(d->endpoint_mode);
    strv_clear(&d->constraints);
    free(d->update.failure_action);
    free(d->update.order);
    free(d->rollback.failure_action);
    free(d->rollback.order);
    free(d->restart_condition);
}

void compose_service_init(struct compose_service *s, const char *name)
{
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    s->stop_grace_period = -1;
    compose_healthcheck_init(&s->healthcheck);
    deploy_init(&s->deploy);
}

static void kv_clear(struct compose_kvlist *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->v[i].key);
        free(kv->v[i].value);
    }
    free(kv->v);
    strindex_clear(&kv->index);
    memset(kv, 0, sizeof(*kv));
}

void compose_service_clear(struct compose_service *s)
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
        compose_port_free(&s->ports[i]);
    free(s->ports);
    for (size_t i = 0; i < s->nvolumes; i++)
        compose_mount_free(&s->volumes[i]);
    free(s->volumes);
    strv_clear(&s->networks);
    free(s->network_mode);
    for (size_t i = 0; i < s->ndeps; i++)
        free(s->deps[i].service);
    free(s->deps);
    strv_clear(&s->healthcheck.test);
    deploy_clear(&s->deploy);
    free(s->restart);
    free(s->user);
    free(s->working_dir);
    free(s->stop_signal);
    strv_clear(&s->profiles);
    for (size_t i = 0; i < s->nextras; i++)
        free(s->extras[i].key);
    free(s->extras);
    strindex_clear(&s->extras_index);
}

void compose_service_free(struct compose_service *s)
{
    if (!s)
        return;
    compose_service_clear(s);
    free(s);
}

static const char *extra_key(const void *ctx, size_t pos)
{
    return ((const struct compose_service *)ctx)->extras[pos].key;
}

void compose_extra_set(struct compose_service *s, const char *key, const struct ynode *v)
{
    strindex_reserve(&s->extras_index, s->nextras, 1, extra_key, s);
    size_t *slot = strindex_slot(&s->extras_index, key, extra_key, s);
    if (*slot) {
        s->extras[*slot - 1].value = v;
        return;
    }
    s->extras = xrealloc(s->extras, (s->nextras + 1) * sizeof(*s->extras));
    s->extras[s->nextras].key = xstrdup(key);
    s->extras[s->nextras].value = v;
    *slot = ++s->nextras;
}

/* ---- key/value lists ---------------------------------------------------- */

static const char *kv_key(const void *ctx, size_t pos)
{
    return ((const struct compose_kvlist *)ctx)->v[pos].key;
}

void compose_kv_set(struct compose_kvlist *kv, const char *key, const char *value)
{
    strindex_reserve(&kv->index, kv->n, 1, kv_key, kv);
    size_t *slot = strindex_slot(&kv->index, key, kv_key, kv);
    if (*slot) {
        free(kv->v[*slot - 1].value);
        kv->v[*slot - 1].value = value ? xstrdup(value) : NULL;
        return;
    }
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? 2 * kv->cap : 8;
        kv->v = xrealloc(kv->v, kv->cap * sizeof(*kv->v));
    }
    kv->v[kv->n].key = xstrdup(key);
    kv->v[kv->n].value = value ? xstrdup(value) : NULL;
    *slot = ++kv->n;
}

const struct compose_kv *compose_kv_find(const struct compose_kvlist *kv, const char *key)
{
    size_t pos = strindex_find(&kv->index, key, kv_key, kv);
    return pos ? &kv->v[pos - 1] : NULL;
}

/* One "KEY=value" or "KEY" entry of the list form. */
static int kv_entry(struct compose_loader *l, const struct ynode *n, const char *what,
                    struct compose_kvlist *out)
{
    const char *s;
    if (yread_scalar(&l->r, n, what, &s) < 0)
        return -1;
    const char *eq = strchr(s, '=');
    if (eq == s)
        return yread_error(&l->r, n, "%s entry \"%s\" has no name before '='", what, s);
    if (!eq) {
        compose_kv_set(out, s, NULL);
    } else {
        char *key = xstrndup(s, (size_t)(eq - s));
        compose_kv_set(out, key, eq + 1);
        free(key);
    }
    return 0;
}

/* "KEY=value" / "KEY" list, or a KEY: value mapping. */
static int read_kv(struct compose_loader *l, const struct ynode *n, const char *what,
                   struct compose_kvlist *out)
{
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            const struct ynode *k = n->items[2 * i], *v = n->items[2 * i + 1];
            if (v->kind != YNODE_SCALAR)
                return yread_error(&l->r, v, "%s value of \"%s\" must be a single value, not %s",
                                   what, k->str ? k->str : "?", ynode_kind_name(v));
            compose_kv_set(out, k->str ? k->str : "", ynode_is_null(v) ? NULL : v->str);
        }
        return 0;
    }
    if (n->kind != YNODE_SEQ)
        return yread_error(&l->r, n, "%s must be a list of KEY=value or a mapping, not %s", what,
                           ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++)
        if (kv_entry(l, n->items[i], what, out) < 0)
            return -1;
    return 0;
}

/* ---- other keys of their own shape -------------------------------------- */

/* A string (split into words like a shell when split is set) or a list of strings; null: none. */
static int read_words(struct compose_loader *l, const struct ynode *n, const char *what, int split,
                      struct strv *out)
{
    strv_clear(out);
    if (ynode_is_null(n))
        return 0;
    if (split && n->kind == YNODE_SCALAR) {
        if (compose_split_words(n->str, out) < 0)
            return yread_error(&l->r, n,
                               "%s has an unterminated quote: close it or use the list form", what);
        return 0;
    }
    return yread_strings(&l->r, n, what, out);
}

static int parse_networks(struct compose_loader *l, const struct ynode *n,
                          struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_SEQ) {
        for (size_t i = 0; i < n->n; i++) {
            const char *name;
            if (yread_scalar(&l->r, n->items[i], "a network name", &name) < 0)
                return -1;
            if (!strv_contains(&s->networks, name))
                strv_push(&s->networks, name);
        }
        return 0;
    }
    if (n->kind != YNODE_MAP)
        return yread_error(&l->r, n, "networks must be a list of names or a mapping, not %s",
                           ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = n->items[2 * i];
        if (k->str && !strv_contains(&s->networks, k->str))
            strv_push(&s->networks, k->str);
    }
    return 0;
}

/* Adds path (made absolute against n's directory), marked "?path" when optional. */
static void env_file_push(struct compose_loader *l, const struct ynode *n, int required,
                          const char *path, struct strv *out)
{
    char *dir = compose_dir_for(l, n), *abs = compose_path_join(dir, path);
    struct buf b = {0};
    buf_printf(&b, "%s%s", required ? "" : "?", abs);
    strv_push_owned(out, buf_detach(&b));
    free(abs);
    free(dir);
}

/* One env_file entry: a path, or {path:, required:}.  An optional file is marked "?path". */
static int env_file_entry(struct compose_loader *l, const struct ynode *e, struct strv *out)
{
    char *path = NULL;
    int required = 1;
    struct yfield fields[] = {
        yfield_required(yfield_string("path", &path, "env_file path"),
                        "an env_file entry needs path: the file to read"),
        yfield_bool("required", &required, NULL),
        yfield_end(),
    };
    int rc;
    if (e->kind == YNODE_MAP) {
        rc = yread_fields(&l->r, e, "env_file entry", fields);
    } else {
        rc = yread_string(&l->r, e, "env_file entry", &path);
    }
    if (rc == 0)
        env_file_push(l, e, required, path, out);
    free(path);
    return rc;
}

static int parse_env_file(struct compose_loader *l, const struct ynode *n,
                          struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_SCALAR) {
        env_file_push(l, n, 1, n->str, &s->env_file);
        return 0;
    }
    if (n->kind != YNODE_SEQ)
        return yread_error(&l->r, n, "env_file must be a path or a list of paths, not %s",
                           ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++)
        if (env_file_entry(l, n->items[i], &s->env_file) < 0)
            return -1;
    return 0;
}

/* A CPU count (cpus: at service level or under deploy.resources): a number in range. */
static int read_cpus(struct compose_loader *l, const struct ynode *n, double *out)
{
    const char *s;
    if (yread_scalar(&l->r, n, "cpus", &s) < 0)
        return -1;
    int rc = compose_parse_cpus(s, out);
    if (rc == -2)
        return yread_error(&l->r, n,
                           "cpus \"%s\" is out of range: it must be above 0 and at most "
                           "%.0f",
                           s, COMPOSE_MAX_CPUS);
    if (rc < 0)
        return yread_error(&l->r, n,
                           "cpus must be a number above 0 and at most %.0f, such as 0.5, not "
                           "\"%s\"",
                           COMPOSE_MAX_CPUS, s);
    return 0;
}

/* A byte size (memory, mem_limit, shm_size...); what names the key; -1 allowed when unlimited. */
static int read_bytes(struct compose_loader *l, const struct ynode *n, const char *what,
                      int unlimited, long long *out)
{
    const char *s;
    if (yread_scalar(&l->r, n, what, &s) < 0)
        return -1;
    if (unlimited && !strcmp(s, "-1")) {
        *out = -1;
        return 0;
    }
    int rc = compose_parse_bytes(s, out);
    if (rc == -2)
        return yread_error(&l->r, n, "%s \"%s\" is out of range: it must be from 0 to %s%s", what,
                           s, COMPOSE_MAX_BYTES_TEXT, unlimited ? ", or -1 for no limit" : "");
    if (rc < 0)
        return yread_error(&l->r, n,
                           "invalid %s \"%s\": write a number from 0 to %s with b, k, m or g, "
                           "such as 512m or 2G",
                           what, s, COMPOSE_MAX_BYTES_TEXT);
    return 0;
}

/* deploy.resources.limits or .reservations: cpus and memory; other keys are not modelled. */
static int parse_resources(struct compose_loader *l, const struct ynode *n,
                           struct compose_resources *r)
{
    const struct ynode *cpus = ynode_get(n, "cpus"), *memory = ynode_get(n, "memory");
    if (ynode_is_null(n))
        return 0;
    if (yread_map(&l->r, n, "deploy resources") < 0)
        return -1;
    if (cpus && read_cpus(l, cpus, &r->cpus) < 0)
        return -1;
    if (memory && read_bytes(l, memory, "memory size", 0, &r->memory) < 0)
        return -1;
    return 0;
}

/*
 * The numbers among the keys kept as written: checked here so that a
 * value Docker would refuse, or one that overflows, is an error at its
 * line rather than at run time (or undefined behaviour on the way).
 */
static int check_number(struct compose_loader *l, const char *k, const struct ynode *v)
{
    static const char *const sizes[] = {"mem_limit", "mem_reservation", "shm_size", NULL};
    double cpus;
    long long bytes;
    if (ynode_is_null(v))
        return 0;
    if (!strcmp(k, "cpus"))
        return read_cpus(l, v, &cpus);
    if (!strcmp(k, "memswap_limit"))
        return read_bytes(l, v, k, 1, &bytes);
    for (size_t i = 0; sizes[i]; i++)
        if (!strcmp(k, sizes[i]))
            return read_bytes(l, v, k, 0, &bytes);
    return 0;
}

static void take_str(char **dst, const char *src)
{
    if (src) {
        free(*dst);
        *dst = xstrdup(src);
    }
}

static void update_config_merge(struct compose_update_config *d,
                                const struct compose_update_config *s)
{
    if (s->parallelism >= 0)
        d->parallelism = s->parallelism;
    if (s->delay >= 0)
        d->delay = s->delay;
    if (s->monitor >= 0)
        d->monitor = s->monitor;
    if (s->max_failure_ratio >= 0)
        d->max_failure_ratio = s->max_failure_ratio;
    take_str(&d->failure_action, s->failure_action);
    take_str(&d->order, s->order);
}

void compose_deploy_merge(struct compose_deploy *dst, const struct compose_deploy *src)
{
    take_str(&dst->mode, src->mode);
    take_str(&dst->endpoint_mode, src->endpoint_mode);
    if (src->replicas >= 0)
        dst->replicas = src->replicas;
    if (src->constraints.n)
        strv_copy(&dst->constraints, &src->constraints);
    update_config_merge(&dst->update, &src->update);
    update_config_merge(&dst->rollback, &src->rollback);
    take_str(&dst->restart_condition, src->restart_condition);
    if (src->restart_delay >= 0)
        dst->restart_delay = src->restart_delay;
    if (src->restart_window >= 0)
        dst->restart_window = src->restart_window;
    if (src->restart_max_attempts >= 0)
        dst->restart_max_attempts = src->restart_max_attempts;
}

/* update_config or rollback_config, what naming it; max_failure_ratio a number in [0, 1]. */
static int parse_update_config(struct compose_loader *l, const struct ynode *n, const char *what,
                               struct compose_update_config *u)
{
    static const char *const actions[] = {"continue", "pause", "rollback", NULL};
    static const char *const orders[] = {"stop-first", "start-first", NULL};
    const char *ratio = NULL;
    const struct yfield fields[] = {
        yfield_int("parallelism", &u->parallelism, NULL, 0),
        yfield_duration("delay", &u->delay, NULL),
        yfield_duration("monitor", &u->monitor, NULL),
        yfield_name("failure_action", &u->failure_action, NULL, actions),
        yfield_name("order", &u->order, NULL, orders),
        yfield_skip("max_failure_ratio"),
        yfield_end(),
    };
    const struct ynode *r = ynode_get(n, "max_failure_ratio");
    char *end;
    if (ynode_is_null(n))
        return 0;
    if (yread_fields(&l->r, n, what, fields) < 0)
        return -1;
    if (r && !ynode_is_null(r)) {
        if (yread_scalar(&l->r, r, "max_failure_ratio", &ratio) < 0)
            return -1;
        u->max_failure_ratio = strtod(ratio, &end);
        if (end == ratio || *end || !(u->max_failure_ratio >= 0 && u->max_failure_ratio <= 1))
            return yread_error(&l->r, r,
                               "%s.max_failure_ratio must be a number from 0 to 1, "
                               "not \"%s\"",
                               what, ratio);
    }
    return 0;
}

/* deploy's keys for swarm mode: mode, replicas, placement, update/rollback_config, restart_policy.
 */
static int parse_deploy_swarm(struct compose_loader *l, const struct ynode *n,
                              struct compose_deploy *d)
{
    static const char *const modes[] = {"replicated", "global", NULL};
    static const char *const conditions[] = {"none", "on-failure", "any", NULL};
    static const char *const endpoint_modes[] = {"vip", "dnsrr", NULL};
    const struct yfield placement[] = {
        yfield_strings("constraints", &d->constraints, "deploy.placement.constraints"),
        yfield_skip("preferences"),
        yfield_skip("max_replicas_per_node"),
        yfield_end(),
    };
    const struct yfield restart[] = {
        yfield_name("condition", &d->restart_condition, "deploy.restart_policy.condition",
                    conditions),
        yfield_duration("delay", &d->restart_delay, "deploy.restart_policy.delay"),
        yfield_int("max_attempts", &d->restart_max_attempts, "deploy.restart_policy.max_attempts",
                   0),
        yfield_duration("window", &d->restart_window, "deploy.restart_policy.window"),
        yfield_end(),
    };
    const struct yfield fields[] = {
        yfield_name("mode", &d->mode, "deploy.mode", modes),
        yfield_int("replicas", &d->replicas, "deploy.replicas", 0),
        yfield_name("endpoint_mode", &d->endpoint_mode, "deploy.endpoint_mode", endpoint_modes),
        yfield_section("placement", placement, "deploy.placement"),
        yfield_section("restart_policy", restart, "deploy.restart_policy"),
        yfield_end(),
    };
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *kn = n->items[2 * i], *v = n->items[2 * i + 1];
        const struct yfield *f = yfield_find(fields, kn->str ? kn->str : "");
        if (f && !ynode_is_null(v) && yread_field(&l->r, f, v) < 0)
            return -1;
    }
    if (parse_update_config(l, ynode_get(n, "update_config"), "deploy.update_config", &d->update) <
        0)
        return -1;
    return parse_update_config(l, ynode_get(n, "rollback_config"), "deploy.rollback_config",
                               &d->rollback);
}

static int parse_deploy(struct compose_loader *l, const struct ynode *n, struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (yread_map(&l->r, n, "deploy") < 0)
        return -1;
    if (parse_deploy_swarm(l, n, &s->deploy) < 0)
        return -1;
    const struct ynode *uc = ynode_get(n, "update_config"), *order;
    if (uc && !ynode_is_null(uc) && yread_map(&l->r, uc, "deploy.update_config") < 0)
        return -1;
    if (uc && (order = ynode_get(uc, "order")) && !ynode_is_null(order)) {
        char *o = NULL;
        if (yread_string(&l->r, order, "deploy.update_config.order", &o) < 0)
            return -1;
        if (strcmp(o, "start-first") && strcmp(o, "stop-first")) {
            free(o);
            return yread_error(&l->r, order,
                               "service \"%s\": deploy.update_config.order must be stop-first or "
                               "start-first",
                               s->name);
        }
        s->start_first = !strcmp(o, "start-first");
        free(o);
    }
    const struct ynode *res = ynode_get(n, "resources");
    if (!res || ynode_is_null(res))
        return 0;
    if (yread_map(&l->r, res, "deploy.resources") < 0)
        return -1;
    if (parse_resources(l, ynode_get(res, "limits"), &s->limits) < 0)
        return -1;
    return parse_resources(l, ynode_get(res, "reservations"), &s->reservations);
}

/* ---- the service -------------------------------------------------------- */

/* A key outside the model: kept as written, and warned about unless the specification has it. */
static int parse_extra(struct compose_loader *l, const struct ynode *kn, const struct ynode *v,
                       struct compose_service *s)
{
    const char *k = kn->str ? kn->str : "";
    int known = !strncmp(k, "x-", 2);
    for (size_t j = 0; !known && passthrough_keys[j]; j++)
        known = !strcmp(k, passthrough_keys[j]);
    if (!known)
        yread_warn(&l->r, kn, "service \"%s\": unknown key \"%s\" kept but not used", s->name, k);
    if (check_number(l, k, v) < 0)
        return -1;
    compose_extra_set(s, k, v);
    return strcmp(k, "deploy") ? 0 : parse_deploy(l, v, s);
}

/*
 * build as written, with a relative context made absolute when the service
 * comes from a file reached through extends: file: (elsewhere it stays as
 * written, relative to the project directory).  New nodes go into the
 * arena of the project's latest document, which the project keeps.
 */
static const struct ynode *build_resolved(struct compose_loader *l, const struct ynode *v)
{
    const struct ynode *ctx = v->kind == YNODE_SCALAR ? v : ynode_get(v, "context");
    if (!ctx || ctx->kind != YNODE_SCALAR || ynode_is_null(ctx) ||
        strv_contains(&l->proj->files, v->file))
        return v;
    struct arena *a = &l->proj->docs[l->proj->ndocs - 1]->arena;
    char *dir = compose_dir_of(v->file), *abs = compose_path_join(dir, ctx->str);
    struct ynode *nctx = ynode_new_scalar(a, ctx, abs);
    free(abs);
    free(dir);
    if (v->kind == YNODE_SCALAR)
        return nctx;
    struct ynode *copy = arena_alloc(a, sizeof(*copy));
    *copy = *v;
    copy->items = arena_alloc(a, (2 * v->n + 1) * sizeof(*copy->items));
    for (size_t i = 0; i < 2 * v->n; i++)
        copy->items[i] = v->items[i] == ctx ? nctx : v->items[i];
    return copy;
}

/* The keys that are neither a single value nor kept as written. */
static int parse_key(struct compose_loader *l, const struct ynode *kn, const struct ynode *v,
                     struct compose_service *s)
{
    const char *k = kn->str ? kn->str : "";
    if (!strcmp(k, "build")) {
        s->build = build_resolved(l, v);
        return 0;
    }
    if (!strcmp(k, "command")) {
        s->has_command = !ynode_is_null(v);
        return read_words(l, v, "command", 1, &s->command);
    }
    if (!strcmp(k, "entrypoint")) {
        s->has_entrypoint = !ynode_is_null(v);
        return read_words(l, v, "entrypoint", 1, &s->entrypoint);
    }
    if (!strcmp(k, "profiles"))
        return read_words(l, v, "profiles", 0, &s->profiles);
    if (!strcmp(k, "environment"))
        return read_kv(l, v, "environment", &s->environment);
    if (!strcmp(k, "labels"))
        return read_kv(l, v, "labels", &s->labels);
    if (!strcmp(k, "env_file"))
        return parse_env_file(l, v, s);
    if (!strcmp(k, "ports"))
        return compose_ports_parse(l, v, s);
    if (!strcmp(k, "volumes"))
        return compose_volumes_parse(l, v, s);
    if (!strcmp(k, "networks"))
        return parse_networks(l, v, s);
    if (!strcmp(k, "depends_on"))
        return compose_depends_on_parse(l, v, s);
    if (!strcmp(k, "healthcheck"))
        return compose_healthcheck_parse(l, v, &s->healthcheck);
    if (!strcmp(k, "extends"))
        return 0; /* resolved by compose_service_build */
    return parse_extra(l, kn, v, s);
}

int compose_service_parse(struct compose_loader *l, const struct ynode *n,
                          struct compose_service *s)
{
    struct yfield fields[] = {
        yfield_string("image", &s->image, NULL),
        yfield_string("container_name", &s->container_name, NULL),
        yfield_string("network_mode", &s->network_mode, NULL),
        yfield_string("restart", &s->restart, NULL),
        yfield_string("user", &s->user, NULL),
        yfield_string("working_dir", &s->working_dir, NULL),
        yfield_string("stop_signal", &s->stop_signal, NULL),
        yfield_duration("stop_grace_period", &s->stop_grace_period, NULL),
        yfield_bool("init", &s->init, NULL),
        yfield_end(),
    };
    if (ynode_is_null(n))
        return 0;
    if (yread_map(&l->r, n, "a service") < 0)
        return -1;
    s->file = n->file;
    s->line = n->line;
    s->col = n->col;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *kn = n->items[2 * i], *v = n->items[2 * i + 1];
        const struct yfield *f = yfield_find(fields, kn->str ? kn->str : "");
        if ((f ? yread_field(&l->r, f, v) : parse_key(l, kn, v, s)) < 0)
            return -1;
    }
    if (s->restart && strcmp(s->restart, "no") && strcmp(s->restart, "always") &&
        strcmp(s->restart, "unless-stopped") && strncmp(s->restart, "on-failure", 10))
        return yread_error(&l->r, ynode_get(n, "restart"),
                           "restart \"%s\" is not a policy: use no, always, on-failure[:N] or "
                           "unless-stopped",
                           s->restart);
    return 0;
}
