/*
 * compose_deps.c - how services wait for each other: depends_on (which
 * services first, and in what state: started, healthy, completed) and
 * healthcheck (how a service says it is healthy).  Both are read into
 * their long form, merged key by key, and the dependencies are checked
 * against the services the profiles enable.
 */
#include "compose_int.h"
#include "buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Indexed by enum compose_condition. */
static const char *const condition_names[] = {"service_started", "service_healthy",
                                              "service_completed_successfully", NULL};

const char *compose_condition_name(enum compose_condition c)
{
    assert(c >= COMPOSE_COND_STARTED && c <= COMPOSE_COND_COMPLETED);
    return condition_names[c];
}

/* ---- depends_on --------------------------------------------------------- */

/* The dependency on name, added with the defaults when s has none yet. */
static struct compose_dep *dep_add(struct compose_service *s, const char *name, const char *file,
                                   int line, int col)
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
    d->file = file;
    d->line = line;
    d->col = col;
    return d;
}

/* One entry of the long form: service: {condition:, required:, restart:}. */
static int dep_parse(struct compose_loader *l, const struct ynode *v, struct compose_dep *d)
{
    int condition = (int)d->condition;
    struct yfield fields[] = {
        yfield_index("condition", &condition, NULL, condition_names),
        yfield_bool("required", &d->required, NULL),
        yfield_bool("restart", &d->restart, NULL),
        yfield_end(),
    };
    if (ynode_is_null(v))
        return 0;
    if (yread_fields(&l->r, v, "depends_on entry", fields) < 0)
        return -1;
    d->condition = (enum compose_condition)condition;
    return 0;
}

int compose_depends_on_parse(struct compose_loader *l, const struct ynode *n,
                             struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_SEQ) {
        for (size_t i = 0; i < n->n; i++) {
            const struct ynode *e = n->items[i];
            const char *name;
            if (yread_scalar(&l->r, e, "a depends_on entry", &name) < 0)
                return -1;
            dep_add(s, name, e->file, e->line, e->col);
        }
        return 0;
    }
    if (n->kind != YNODE_MAP)
        return yread_error(&l->r, n,
                           "depends_on must be a list of services or a mapping of service: "
                           "{condition: ...}, not %s",
                           ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = n->items[2 * i];
        struct compose_dep *d = dep_add(s, k->str ? k->str : "", k->file, k->line, k->col);
        if (dep_parse(l, n->items[2 * i + 1], d) < 0)
            return -1;
    }
    return 0;
}

void compose_depends_on_merge(struct compose_service *dst, const struct compose_service *src)
{
    for (size_t i = 0; i < src->ndeps; i++) {
        const struct compose_dep *d = &src->deps[i];
        struct compose_dep *q = dep_add(dst, d->service, d->file, d->line, d->col);
        free(q->service);
        *q = *d;
        q->service = xstrdup(d->service);
    }
}

/* Why a required dependency d of s cannot be met. */
static int dep_missing(struct compose_loader *l, const struct compose_service *s,
                       const struct compose_dep *d)
{
    struct compose_project *p = l->proj;
    struct tt_err *err = l->r.err;
    struct compose_service *off = compose_find_in(p->disabled, p->ndisabled, d->service);
    if (off)
        return tt_error_at(err, d->file, d->line, d->col,
                           "service \"%s\" depends on \"%s\", which is only enabled "
                           "with profile \"%s\": add --profile %s, or required: false",
                           s->name, d->service, off->profiles.v[0], off->profiles.v[0]);
    const char *hint = compose_closest_service(p, d->service);
    if (hint)
        return tt_error_at(err, d->file, d->line, d->col,
                           "service \"%s\" depends on \"%s\", which is not defined "
                           "(did you mean \"%s\"?)",
                           s->name, d->service, hint);
    return tt_error_at(err, d->file, d->line, d->col,
                       "service \"%s\" depends on \"%s\", which is not defined: define "
                       "it or remove the dependency",
                       s->name, d->service);
}

int compose_depends_on_check(struct compose_loader *l, struct compose_service *s)
{
    struct compose_project *p = l->proj;
    size_t kept = 0;

    /* First every check, changing nothing, so an error leaves s whole. */
    for (size_t i = 0; i < s->ndeps; i++) {
        struct compose_dep *d = &s->deps[i];
        if (d->required && !compose_find_service(p, d->service))
            return dep_missing(l, s, d);
        if (!strcmp(d->service, s->name))
            return tt_error_at(l->r.err, d->file, d->line, d->col,
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

/* ---- healthcheck -------------------------------------------------------- */

void compose_healthcheck_init(struct compose_healthcheck *h)
{
    memset(h, 0, sizeof(*h));
    h->interval = h->timeout = h->start_period = h->start_interval = -1;
    h->retries = -1;
}

/* test: a string (run by the shell), NONE, or a list starting CMD, CMD-SHELL or NONE. */
static int healthcheck_test(struct compose_loader *l, const struct ynode *v,
                            struct compose_healthcheck *h)
{
    strv_clear(&h->test);
    if (v->kind == YNODE_SCALAR && !ynode_is_null(v)) {
        if (strcmp(v->str, "NONE"))
            strv_push(&h->test, "CMD-SHELL");
        strv_push(&h->test, v->str);
    } else if (!ynode_is_null(v)) {
        if (yread_strings(&l->r, v, "healthcheck test", &h->test) < 0)
            return -1;
        if (h->test.n > 0 && strcmp(h->test.v[0], "CMD") && strcmp(h->test.v[0], "CMD-SHELL") &&
            strcmp(h->test.v[0], "NONE"))
            return yread_error(&l->r, v,
                               "healthcheck test list must start with \"CMD\", "
                               "\"CMD-SHELL\" or \"NONE\", not \"%s\"",
                               h->test.v[0]);
        if (h->test.n == 1 && strcmp(h->test.v[0], "NONE"))
            return yread_error(&l->r, v, "healthcheck test \"%s\" needs a command after it",
                               h->test.v[0]);
    }
    if (h->test.n && !strcmp(h->test.v[0], "NONE"))
        h->disable = 1;
    return 0;
}

int compose_healthcheck_parse(struct compose_loader *l, const struct ynode *n,
                              struct compose_healthcheck *h)
{
    struct yfield fields[] = {
        yfield_skip("test"),
        yfield_duration("interval", &h->interval, "healthcheck interval"),
        yfield_duration("timeout", &h->timeout, "healthcheck timeout"),
        yfield_duration("start_period", &h->start_period, "healthcheck start_period"),
        yfield_duration("start_interval", &h->start_interval, "healthcheck start_interval"),
        yfield_int("retries", &h->retries, "healthcheck retries", 0),
        yfield_bool("disable", &h->disable, "healthcheck disable"),
        yfield_end(),
    };
    if (yread_fields(&l->r, n, "healthcheck", fields) < 0)
        return -1;
    h->present = 1;
    const struct ynode *test = ynode_get(n, "test");
    return test ? healthcheck_test(l, test, h) : 0;
}

void compose_healthcheck_merge(struct compose_healthcheck *dst,
                               const struct compose_healthcheck *src)
{
    if (!src->present)
        return;
    dst->present = 1;
    if (src->test.n)
        strv_copy(&dst->test, &src->test);
    dst->disable = src->disable || (dst->test.n && !strcmp(dst->test.v[0], "NONE"));
    if (src->interval >= 0)
        dst->interval = src->interval;
    if (src->timeout >= 0)
        dst->timeout = src->timeout;
    if (src->start_period >= 0)
        dst->start_period = src->start_period;
    if (src->start_interval >= 0)
        dst->start_interval = src->start_interval;
    if (src->retries >= 0)
        dst->retries = src->retries;
}
