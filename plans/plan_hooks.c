/*
 * plan_hooks.c - the hooks: section of a plan: commands run before a
 * phase, after it worked, or once it failed, on the host or in a one-off
 * container of a service.  Running them is deploy/hooks.c's work.
 *
 *   hooks:
 *     migrate:
 *       before:
 *         - {name: announce, run: "echo migrating $$TTDEPLOY_RELEASE", timeout: 10s}
 *       on_failure:
 *         - {run: [notify-send, failed], service: api, env: {CHANNEL: "${CHANNEL}"}}
 *
 * The whole plan is interpolated when it is loaded, so a shell variable in
 * run: is written $$NAME (as in compose files); ${NAME} is the plan's.
 */
#include "plan_int.h"
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The phases a hook may name: the apply phases, as deploy_state_name() calls them. */
static const char *const hook_phases[] = {"preflight", "backup", "migrate", "infra_up",
                                          "app_up",    "verify", NULL};
static const char *const when_names[] = {"before", "after", "on_failure", NULL};

#define HOOK_NAME_MAX 128
#define HOOK_TIMEOUT_MAX_MS (24L * 3600 * 1000)

const char *plan_hook_when_name(enum plan_hook_when w)
{
    return when_names[w];
}

const struct plan_hook *plan_hook_named(const struct plan *p, const char *name)
{
    for (size_t i = 0; name && i < p->nhooks; i++)
        if (!strcmp(p->hooks[i].name, name))
            return &p->hooks[i];
    return NULL;
}

/* Whether name is an environment variable's name: a letter or _, then letters, digits, _. */
static int env_name_ok(const char *name, size_t len)
{
    if (!len || !((*name >= 'A' && *name <= 'Z') || (*name >= 'a' && *name <= 'z') || *name == '_'))
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* env: {NAME: value, ...} into h->env as NAME=value. */
static int parse_env(struct ploader *l, const struct ynode *n, struct plan_hook *h)
{
    if (yread_map(&l->r, n, "hook env") < 0)
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = n->items[2 * i], *v = n->items[2 * i + 1];
        const char *value;
        if (!k->str || !env_name_ok(k->str, strlen(k->str)))
            return yread_error(&l->r, k,
                               "hook \"%s\": env: \"%s\" is not an environment variable name (a "
                               "letter or _, then letters, digits or _)",
                               h->name, k->str ? k->str : "");
        if (!strncmp(k->str, "TTDEPLOY_", 9))
            return yread_error(&l->r, k,
                               "hook \"%s\": env: %s: the TTDEPLOY_ names are ttdeploy's (the "
                               "deployment's facts); choose another name",
                               h->name, k->str);
        if (yread_scalar(&l->r, v, "a hook env value", &value) < 0)
            return -1;
        struct buf kv = {0};
        buf_printf(&kv, "%s=%s", k->str, value);
        strv_push_owned(&h->env, buf_detach(&kv));
    }
    return 0;
}

/* run: a string (/bin/sh -c) or a list (the argv). */
static int parse_run(struct ploader *l, const struct ynode *n, struct plan_hook *h)
{
    struct strv words = {0};
    if (yread_strings(&l->r, n, "hook run", &words) < 0)
        return -1;
    if (!words.n || !words.v[0][0]) {
        strv_clear(&words);
        return yread_error(&l->r, n,
                           "hook \"%s\": run: is empty: write a shell command (\"./notify.sh\") "
                           "or a list ([curl, -fsS, URL])",
                           h->name);
    }
    h->shell = n->kind == YNODE_SCALAR;
    if (h->shell) {
        strv_push(&h->argv, "/bin/sh");
        strv_push(&h->argv, "-c");
        strv_push(&h->argv, words.v[0]);
        strv_clear(&words);
    } else {
        h->argv = words;
    }
    return 0;
}

static int parse_hook(struct ploader *l, const struct ynode *n, const char *phase,
                      enum plan_hook_when when, size_t index, struct plan_hook *h)
{
    struct yfield fields[] = {
        yfield_string("name", &h->name, "hook name"),
        yfield_required(yfield_skip("run"),
                        "a hook needs run: a shell command (\"./notify.sh\") or a list "
                        "([curl, -fsS, URL])"),
        yfield_string("service", &h->service, "hook service"),
        yfield_millis("timeout", &h->timeout_ms, "hook timeout"),
        yfield_skip("env"),
        yfield_end(),
    };
    const struct ynode *env;

    h->phase = xstrdup(phase);
    h->when = when;
    h->timeout_ms = PLAN_HOOK_TIMEOUT_DEFAULT_MS;
    h->at = (struct plan_where){l->p->path, n->line, n->col};
    if (yread_map(&l->r, n, "a hook") < 0 || yread_fields(&l->r, n, "a hook", fields) < 0)
        return -1;
    if (!h->name) {
        struct buf name = {0};
        buf_printf(&name, "%s.%s.%zu", phase, when_names[when], index + 1);
        h->name = buf_detach(&name);
    } else if (!h->name[0] || strlen(h->name) > HOOK_NAME_MAX) {
        return yread_error(&l->r, ynode_get(n, "name"),
                           "a hook's name must have 1 to %d characters", HOOK_NAME_MAX);
    }
    if (h->timeout_ms > HOOK_TIMEOUT_MAX_MS)
        return yread_error(&l->r, ynode_get(n, "timeout"),
                           "hook \"%s\": timeout is over the limit of 24h", h->name);
    if (h->service && !h->service[0])
        return yread_error(&l->r, ynode_get(n, "service"),
                           "hook \"%s\": service: is empty: name a compose service, or leave "
                           "service: out to run on the host",
                           h->name);
    if (parse_run(l, ynode_get(n, "run"), h) < 0)
        return -1;
    return (env = ynode_get(n, "env")) ? parse_env(l, env, h) : 0;
}

/* A name must be one hook's and no check's: a rollback rule's check: names either. */
static int name_unique(struct ploader *l, const struct ynode *n, size_t count)
{
    const struct plan *p = l->p;
    const struct plan_hook *h = &p->hooks[count];
    for (size_t j = 0; j < count; j++)
        if (!strcmp(p->hooks[j].name, h->name))
            return yread_error(&l->r, n, "two hooks are named \"%s\": names must differ", h->name);
    for (size_t j = 0; j < p->nchecks; j++)
        if (!strcmp(p->checks[j].name, h->name))
            return yread_error(&l->r, n,
                               "hook \"%s\" has the name of a verify check: names must differ "
                               "(a rollback rule's check: names either)",
                               h->name);
    return 0;
}

/* One phase's {before: [...], after: [...], on_failure: [...]}. */
static int parse_phase(struct ploader *l, const char *phase, const struct ynode *m, size_t *cap)
{
    struct plan *p = l->p;
    struct yfield fields[] = {yfield_skip("before"), yfield_skip("after"),
                              yfield_skip("on_failure"), yfield_end()};
    struct buf what = {0};
    buf_printf(&what, "hooks %s", phase);
    int rc = yread_map(&l->r, m, what.data) < 0 || yread_fields(&l->r, m, what.data, fields) < 0;
    buf_release(&what);
    if (rc)
        return -1;
    for (int w = 0; when_names[w]; w++) {
        const struct ynode *list = ynode_get(m, when_names[w]);
        if (!list)
            continue;
        struct buf lw = {0};
        buf_printf(&lw, "hooks %s %s", phase, when_names[w]);
        rc = yread_list(&l->r, list, lw.data);
        buf_release(&lw);
        if (rc < 0)
            return -1;
        if (list->n > PLAN_HOOKS_MAX)
            return yread_error(&l->r, list,
                               "hooks %s %s: %zu hooks, over the limit of %d: run one script "
                               "that does the rest",
                               phase, when_names[w], list->n, PLAN_HOOKS_MAX);
        for (size_t i = 0; i < list->n; i++) {
            if (p->nhooks == *cap) {
                *cap = *cap ? *cap * 2 : 8;
                p->hooks = xrealloc(p->hooks, *cap * sizeof(*p->hooks));
            }
            struct plan_hook *h = &p->hooks[p->nhooks];
            memset(h, 0, sizeof(*h));
            p->nhooks++;
            if (parse_hook(l, list->items[i], phase, (enum plan_hook_when)w, i, h) < 0 ||
                name_unique(l, list->items[i], p->nhooks - 1) < 0)
                return -1;
        }
    }
    return 0;
}

int plan_hooks_parse(struct ploader *l, const struct ynode *n)
{
    size_t cap = 0;
    if (yread_map(&l->r, n, "hooks") < 0)
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = n->items[2 * i];
        int index;
        if (yread_choice(&l->r, k, "hooks phase", hook_phases, &index) < 0) {
            size_t len = strlen(l->r.err->msg);
            if (!strstr(l->r.err->msg, "use one of")) /* a suggestion: name them all too */
                snprintf(l->r.err->msg + len, sizeof(l->r.err->msg) - len,
                         "; hooks run around the phases preflight, backup, migrate, infra_up, "
                         "app_up, verify");
            return -1;
        }
        if (parse_phase(l, hook_phases[index], n->items[2 * i + 1], &cap) < 0)
            return -1;
    }
    return 0;
}

int plan_hooks_check(const struct plan *p, const struct compose_project *proj, struct tt_err *err)
{
    for (size_t i = 0; i < p->nhooks; i++) {
        const struct plan_hook *h = &p->hooks[i];
        if (!h->service || compose_find_service(proj, h->service))
            continue;
        const char *hint = compose_closest_service(proj, h->service);
        return tt_error_at(err, h->at.file, h->at.line, h->at.col,
                           "hook \"%s\" runs in service \"%s\", which the compose project does "
                           "not define%s%s%s: name one of its services, or leave service: out to "
                           "run on the host",
                           h->name, h->service, hint ? " (did you mean \"" : "", hint ? hint : "",
                           hint ? "\"?)" : "");
    }
    return 0;
}

void plan_hooks_free(struct plan *p)
{
    for (size_t i = 0; i < p->nhooks; i++) {
        struct plan_hook *h = &p->hooks[i];
        free(h->name);
        free(h->phase);
        strv_clear(&h->argv);
        free(h->service);
        strv_clear(&h->env);
    }
    free(p->hooks);
    p->hooks = NULL;
    p->nhooks = 0;
}
