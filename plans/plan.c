/*
 * plan.c - loading and validating plan files.
 *
 * Each section has a parse function that knows its keys; an unknown key is
 * an error with a "did you mean" hint, because a misspelt key in a
 * deployment plan (say "verfy:") would otherwise silently skip a check.
 */
#include "plan.h"
#include "buf.h"
#include "sha256.h"
#include "suggest.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ploader {
    struct plan *p;
    struct tt_err *err;
};

static const char *const phase_names[] = {"backup", "migrate",     "infra_up", "infra_healthy",
                                          "app_up", "app_healthy", "verify",   NULL};
static const char *const action_names[] = {"none",    "images", "git", "migrations",
                                           "restore", "abort",  NULL};
static const char *const severity_names[] = {"critical", "high", "medium", "low", NULL};

static int perr(struct ploader *l, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct ploader *l, const struct ynode *n, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tt_error_at(l->err, n ? n->file : l->p->path, n ? n->line : 0, n ? n->col : 0, "%s",
                       msg);
}

static size_t count(const char *const *names)
{
    size_t n = 0;
    while (names[n])
        n++;
    return n;
}

/* Fails on the first key of map not in keys, suggesting the nearest. */
static int known_keys(struct ploader *l, const struct ynode *map, const char *what,
                      const char *const *keys)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = map->items[2 * i];
        size_t j;
        for (j = 0; keys[j]; j++)
            if (!strcmp(k->str, keys[j]))
                break;
        if (keys[j])
            continue;
        const char *hint = suggest_closest(k->str, keys, count(keys));
        if (hint)
            return perr(l, k, "unknown key \"%s\" in %s (did you mean \"%s\"?)", k->str, what,
                        hint);
        struct buf all = {0};
        for (j = 0; keys[j]; j++)
            buf_printf(&all, "%s%s", j ? ", " : "", keys[j]);
        int rc = perr(l, k, "unknown key \"%s\" in %s: known keys are %s", k->str, what, all.data);
        buf_release(&all);
        return rc;
    }
    return 0;
}

static int want_map(struct ploader *l, const struct ynode *n, const char *what)
{
    if (!n || n->kind != YNODE_MAP)
        return perr(l, n, "%s must be a mapping, not %s", what, ynode_kind_name(n));
    return 0;
}

static int want_str(struct ploader *l, const struct ynode *n, const char *what, char **dst)
{
    if (!n || n->kind != YNODE_SCALAR || ynode_is_null(n))
        return perr(l, n, "%s must be a single value, not %s", what, ynode_kind_name(n));
    free(*dst);
    *dst = xstrdup(n->str);
    return 0;
}

static int want_int(struct ploader *l, const struct ynode *n, const char *what, int lo, int *out)
{
    char *end;
    if (!n || n->kind != YNODE_SCALAR || ynode_is_null(n))
        return perr(l, n, "%s must be a whole number, not %s", what, ynode_kind_name(n));
    errno = 0;
    long v = strtol(n->str, &end, 10);
    if (errno || *end || end == n->str || v < lo || v > INT_MAX)
        return perr(l, n, "%s must be a whole number of at least %d, not \"%s\"", what, lo, n->str);
    *out = (int)v;
    return 0;
}

static int want_bool(struct ploader *l, const struct ynode *n, const char *what, int *out)
{
    if (n && n->kind == YNODE_SCALAR && (!strcmp(n->str, "true") || !strcmp(n->str, "false"))) {
        *out = !strcmp(n->str, "true");
        return 0;
    }
    return perr(l, n, "%s must be true or false", what);
}

static int want_ms(struct ploader *l, const struct ynode *n, const char *what, long *out)
{
    compose_ns ns;
    if (!n || n->kind != YNODE_SCALAR || compose_parse_duration(n->str, &ns) < 0 || ns <= 0)
        return perr(l, n, "%s must be a duration such as 90s or 2m, not \"%s\"", what,
                    n && n->str ? n->str : "");
    *out = (long)(ns / 1000000);
    return 0;
}

/* A string or a list of strings. */
static int want_list(struct ploader *l, const struct ynode *n, const char *what, struct strv *out)
{
    strv_clear(out);
    if (n && n->kind == YNODE_SCALAR && !ynode_is_null(n)) {
        strv_push(out, n->str);
        return 0;
    }
    if (!n || n->kind != YNODE_SEQ)
        return perr(l, n, "%s must be a list of strings, not %s", what, ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        if (n->items[i]->kind != YNODE_SCALAR || ynode_is_null(n->items[i]))
            return perr(l, n->items[i], "%s must hold strings, not %s", what,
                        ynode_kind_name(n->items[i]));
        strv_push(out, n->items[i]->str);
    }
    return 0;
}

static int want_name(struct ploader *l, const struct ynode *n, const char *what,
                     const char *const *allowed, char **dst)
{
    if (want_str(l, n, what, dst) < 0)
        return -1;
    for (size_t i = 0; allowed[i]; i++)
        if (!strcmp(*dst, allowed[i]))
            return 0;
    struct buf all = {0};
    for (size_t i = 0; allowed[i]; i++)
        buf_printf(&all, "%s%s", i ? ", " : "", allowed[i]);
    const char *hint = suggest_closest(*dst, allowed, count(allowed));
    int rc = hint ? perr(l, n, "unknown %s \"%s\" (did you mean \"%s\"?)", what, *dst, hint)
                  : perr(l, n, "unknown %s \"%s\": use one of %s", what, *dst, all.data);
    buf_release(&all);
    return rc;
}

static char *resolve(const struct plan *p, const char *rel)
{
    struct buf b = {0};
    if (rel[0] == '/')
        buf_adds(&b, rel);
    else
        buf_printf(&b, "%s/%s", p->dir, rel);
    return buf_detach(&b);
}

/* ---- sections ----------------------------------------------------------- */

static int parse_release(struct ploader *l, const struct ynode *n)
{
    static const char *const keys[] = {"version", "git", "images", NULL};
    struct plan *p = l->p;
    if (want_map(l, n, "release") < 0 || known_keys(l, n, "release", keys) < 0)
        return -1;
    const struct ynode *v = ynode_get(n, "version");
    if (!v)
        return perr(l, n, "release needs version: a label such as v1.4.0");
    if (want_str(l, v, "release version", &p->release_version) < 0)
        return -1;
    const struct ynode *g = ynode_get(n, "git");
    if (g) {
        static const char *const gkeys[] = {"repo", "tag", "commit", NULL};
        if (want_map(l, g, "release git") < 0 || known_keys(l, g, "release git", gkeys) < 0)
            return -1;
        if (ynode_get(g, "repo") && want_str(l, ynode_get(g, "repo"), "git repo", &p->git_repo) < 0)
            return -1;
        if (ynode_get(g, "tag") && want_str(l, ynode_get(g, "tag"), "git tag", &p->git_tag) < 0)
            return -1;
        if (ynode_get(g, "commit") &&
            want_str(l, ynode_get(g, "commit"), "git commit", &p->git_commit) < 0)
            return -1;
        if (!p->git_tag && !p->git_commit)
            return perr(l, g, "release git needs tag: or commit:");
    }
    const struct ynode *im = ynode_get(n, "images");
    if (im) {
        if (want_map(l, im, "release images") < 0)
            return -1;
        for (size_t i = 0; i < im->n; i++) {
            char *ref = NULL;
            if (want_str(l, im->items[2 * i + 1], "an image", &ref) < 0)
                return -1;
            strv_push(&p->image_services, im->items[2 * i]->str);
            strv_push_owned(&p->image_refs, ref);
        }
    }
    return 0;
}

static int parse_check(struct ploader *l, const struct ynode *n, struct plan_check *c)
{
    static const char *const keys[] = {"name",   "http",           "exec",        "sql", "expect",
                                       "probes", "max_error_rate", "expect_exit", NULL};
    c->status = 200;
    c->probes = 1;
    c->at = (struct plan_where){l->p->path, n->line, n->col}; /* the doc is freed after loading */
    if (want_map(l, n, "a verify check") < 0 || known_keys(l, n, "a verify check", keys) < 0)
        return -1;
    if (!ynode_get(n, "name"))
        return perr(l, n, "a verify check needs name: so failures and rollback rules can name it");
    if (want_str(l, ynode_get(n, "name"), "check name", &c->name) < 0)
        return -1;
    const struct ynode *http = ynode_get(n, "http"), *ex = ynode_get(n, "exec"),
                       *sql = ynode_get(n, "sql");
    if (!!http + !!ex + !!sql != 1)
        return perr(l, n, "check \"%s\" needs exactly one of http:, exec: or sql:", c->name);
    if (http) {
        static const char *const hkeys[] = {"url", "status", "body", "from", NULL};
        c->kind = PLAN_CHECK_HTTP;
        if (want_map(l, http, "http") < 0 || known_keys(l, http, "http", hkeys) < 0)
            return -1;
        if (!ynode_get(http, "url"))
            return perr(l, http, "check \"%s\": http needs url:", c->name);
        if (want_str(l, ynode_get(http, "url"), "url", &c->url) < 0)
            return -1;
        if (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))
            return perr(l, ynode_get(http, "url"), "url \"%s\" must start with http:// or https://",
                        c->url);
        if (ynode_get(http, "status") &&
            want_int(l, ynode_get(http, "status"), "status", 100, &c->status) < 0)
            return -1;
        if (ynode_get(http, "body") && want_str(l, ynode_get(http, "body"), "body", &c->body) < 0)
            return -1;
        if (ynode_get(http, "from") && want_str(l, ynode_get(http, "from"), "from", &c->from) < 0)
            return -1;
    } else if (ex) {
        static const char *const ekeys[] = {"service", "command", NULL};
        c->kind = PLAN_CHECK_EXEC;
        if (want_map(l, ex, "exec") < 0 || known_keys(l, ex, "exec", ekeys) < 0)
            return -1;
        if (!ynode_get(ex, "service") || !ynode_get(ex, "command"))
            return perr(l, ex, "check \"%s\": exec needs service: and command:", c->name);
        if (want_str(l, ynode_get(ex, "service"), "service", &c->service) < 0 ||
            want_list(l, ynode_get(ex, "command"), "command", &c->command) < 0)
            return -1;
    } else {
        c->kind = PLAN_CHECK_SQL;
        if (want_str(l, sql, "sql", &c->sql) < 0)
            return -1;
    }
    if (ynode_get(n, "expect")) {
        if (c->kind != PLAN_CHECK_SQL)
            return perr(l, ynode_get(n, "expect"),
                        "expect: is for sql checks; http checks use "
                        "status: and body:");
        if (want_str(l, ynode_get(n, "expect"), "expect", &c->expect) < 0)
            return -1;
        const char *e = c->expect;
        if (strncmp(e, ">=", 2) && strncmp(e, "<=", 2) && strncmp(e, "!=", 2) &&
            strncmp(e, "==", 2) && e[0] != '=' && e[0] != '<' && e[0] != '>')
            return perr(l, ynode_get(n, "expect"),
                        "expect \"%s\" must be a comparison such as \">= 10\", \"= ok\" or "
                        "\">= before\"",
                        e);
    }
    if (ynode_get(n, "probes") && want_int(l, ynode_get(n, "probes"), "probes", 1, &c->probes) < 0)
        return -1;
    if (ynode_get(n, "expect_exit") &&
        want_int(l, ynode_get(n, "expect_exit"), "expect_exit", 0, &c->expect_exit) < 0)
        return -1;
    const struct ynode *rate = ynode_get(n, "max_error_rate");
    if (rate) {
        char *end;
        c->max_error_rate = rate->kind == YNODE_SCALAR ? strtod(rate->str, &end) : -1;
        if (rate->kind != YNODE_SCALAR || *end || c->max_error_rate < 0 || c->max_error_rate > 1)
            return perr(l, rate, "max_error_rate must be a fraction between 0 and 1, such as 0.05");
    }
    return 0;
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

int plan_condition_parse(const char *text, struct plan_condition *c, char *why, size_t whylen)
{
    static const char *const metrics[] = {"error_rate", "p95", "health", "value", NULL};
    static const char *const ops[] = {">=", "<=", "!=", "==", ">", "<", "=", NULL};
    static const char *const forms =
        "write METRIC OP VALUE: error_rate > 5%, p95 > 2x before, p95 > 500ms, "
        "health = unhealthy, value != before";
    const char *s = skip_spaces(text), *rest;
    char *end;
    size_t len = strcspn(s, " \t<>=!");
    int m;

    memset(c, 0, sizeof(*c));
    for (m = 0; metrics[m]; m++)
        if (strlen(metrics[m]) == len && !strncmp(s, metrics[m], len))
            break;
    if (!metrics[m]) {
        snprintf(why, whylen, "condition \"%s\": unknown measurement \"%.*s\"; %s", text,
                 (int)len, s, forms);
        return -1;
    }
    c->metric = (enum plan_metric)m;
    s = skip_spaces(s + len);
    for (m = 0; ops[m]; m++)
        if (!strncmp(s, ops[m], strlen(ops[m])))
            break;
    if (!ops[m]) {
        snprintf(why, whylen, "condition \"%s\": expected a comparison (>, >=, <, <=, =, !=); %s",
                 text, forms);
        return -1;
    }
    snprintf(c->op, sizeof(c->op), "%s", strcmp(ops[m], "==") ? ops[m] : "=");
    rest = skip_spaces(s + strlen(ops[m]));
    if (!*rest) {
        snprintf(why, whylen, "condition \"%s\": nothing to compare with; %s", text, forms);
        return -1;
    }
    if (c->metric == PLAN_METRIC_HEALTH || c->metric == PLAN_METRIC_VALUE) {
        if (c->metric == PLAN_METRIC_HEALTH && strcmp(c->op, "=") && strcmp(c->op, "!=")) {
            snprintf(why, whylen, "condition \"%s\": health compares with = or != only", text);
            return -1;
        }
        c->text = xstrdup(rest);
        return 0;
    }
    c->number = strtod(rest, &end);
    if (end == rest) {
        snprintf(why, whylen, "condition \"%s\": \"%s\" is not a number; %s", text, rest, forms);
        return -1;
    }
    end = (char *)skip_spaces(end);
    if (c->metric == PLAN_METRIC_ERROR_RATE) {
        if (*end == '%') {
            c->number /= 100;
            end = (char *)skip_spaces(end + 1);
        }
        if (*end || c->number < 0 || c->number > 1) {
            snprintf(why, whylen,
                     "condition \"%s\": an error rate is a percentage (5%%) or a fraction (0.05)",
                     text);
            return -1;
        }
        return 0;
    }
    if (*end == 'x') {
        c->ratio_before = 1;
        end = (char *)skip_spaces(end + 1);
        if (strcmp(end, "before")) {
            snprintf(why, whylen, "condition \"%s\": write a ratio as \"2x before\"", text);
            return -1;
        }
    } else if (!strcmp(end, "s")) {
        c->number *= 1000;
    } else if (strcmp(end, "ms")) {
        snprintf(why, whylen,
                 "condition \"%s\": p95 compares with a time (500ms, 2s) or a ratio (2x before)",
                 text);
        return -1;
    }
    return 0;
}

static int parse_rule(struct ploader *l, const struct ynode *n, struct plan_rule *r)
{
    static const char *const keys[] = {"when", "severity", "do", NULL};
    static const char *const wkeys[] = {"phase", "check", "service", "condition", NULL};
    r->at = (struct plan_where){l->p->path, n->line, n->col};
    if (want_map(l, n, "a rollback rule") < 0 || known_keys(l, n, "a rollback rule", keys) < 0)
        return -1;
    const struct ynode *w = ynode_get(n, "when");
    if (!w)
        return perr(l, n, "a rollback rule needs when: ({} matches any failure)");
    if (want_map(l, w, "when") < 0 || known_keys(l, w, "when", wkeys) < 0)
        return -1;
    if (ynode_get(w, "phase") &&
        want_name(l, ynode_get(w, "phase"), "phase", phase_names, &r->phase) < 0)
        return -1;
    if (ynode_get(w, "check") && want_str(l, ynode_get(w, "check"), "check", &r->check) < 0)
        return -1;
    if (ynode_get(w, "service") && want_str(l, ynode_get(w, "service"), "service", &r->service) < 0)
        return -1;
    if (ynode_get(w, "condition")) {
        char why[512];
        if (want_str(l, ynode_get(w, "condition"), "condition", &r->condition) < 0)
            return -1;
        if (plan_condition_parse(r->condition, &r->cond, why, sizeof(why)) < 0)
            return perr(l, ynode_get(w, "condition"), "%s", why);
    }
    if (!ynode_get(n, "severity"))
        return perr(l, n, "a rollback rule needs severity: critical, high, medium or low");
    if (want_name(l, ynode_get(n, "severity"), "severity", severity_names, &r->severity) < 0)
        return -1;
    const struct ynode *d = ynode_get(n, "do");
    if (!d)
        return perr(l, n, "a rollback rule needs do: a list of actions, such as [images]");
    if (want_list(l, d, "do", &r->actions) < 0)
        return -1;
    if (r->actions.n == 0)
        return perr(l, d, "do: needs at least one action (none means fix forward)");
    for (size_t i = 0; i < r->actions.n; i++) {
        char *name = NULL;
        const struct ynode *item = d->kind == YNODE_SEQ ? d->items[i] : d;
        int rc = want_name(l, item, "rollback action", action_names, &name);
        free(name);
        if (rc < 0)
            return -1;
        if ((!strcmp(r->actions.v[i], "none") || !strcmp(r->actions.v[i], "abort")) &&
            r->actions.n > 1)
            return perr(l, item, "\"%s\" cannot be combined with other actions", r->actions.v[i]);
    }
    return 0;
}

static int parse_backup(struct ploader *l, const struct ynode *n)
{
    static const char *const keys[] = {"dir", "verify", "keep", "via", NULL};
    static const char *const verifies[] = {"restore", "list", "none", NULL};
    static const char *const vias[] = {"container", "host", NULL};
    struct plan_backup *b = &l->p->backup;
    b->present = 1;
    if (want_map(l, n, "backup") < 0 || known_keys(l, n, "backup", keys) < 0)
        return -1;
    if (ynode_get(n, "dir") && want_str(l, ynode_get(n, "dir"), "backup dir", &b->dir) < 0)
        return -1;
    if (!b->dir)
        b->dir = xstrdup("backups");
    if (ynode_get(n, "verify") &&
        want_name(l, ynode_get(n, "verify"), "backup verify", verifies, &b->verify) < 0)
        return -1;
    if (ynode_get(n, "via")) {
        char *via = NULL;
        int rc = want_name(l, ynode_get(n, "via"), "backup via", vias, &via);
        b->via_host = via && !strcmp(via, "host");
        free(via);
        if (rc < 0)
            return -1;
    }
    const struct ynode *keep = ynode_get(n, "keep");
    if (keep) {
        static const char *const kkeys[] = {"last", NULL};
        if (want_map(l, keep, "keep") < 0 || known_keys(l, keep, "keep", kkeys) < 0)
            return -1;
        if (ynode_get(keep, "last") &&
            want_int(l, ynode_get(keep, "last"), "keep last", 2, &b->keep_last) < 0)
            return -1;
    }
    return 0;
}

static int parse_migrate(struct ploader *l, const struct ynode *n)
{
    static const char *const keys[] = {"kind",           "service",     "dir",      "up", "down",
                                       "revision_query", "stop_during", "rehearse", NULL};
    static const char *const kinds[] = {"command", "sql", NULL};
    struct plan_migrate *m = &l->p->migrate;
    m->present = 1;
    m->rehearse = 1;
    if (want_map(l, n, "migrate") < 0 || known_keys(l, n, "migrate", keys) < 0)
        return -1;
    if (!ynode_get(n, "kind"))
        return perr(l, n, "migrate needs kind: command or sql");
    if (want_name(l, ynode_get(n, "kind"), "migrate kind", kinds, &m->kind) < 0)
        return -1;
    if (ynode_get(n, "service") &&
        want_str(l, ynode_get(n, "service"), "migrate service", &m->service) < 0)
        return -1;
    if (ynode_get(n, "dir") && want_str(l, ynode_get(n, "dir"), "migrate dir", &m->dir) < 0)
        return -1;
    if (ynode_get(n, "up") && want_list(l, ynode_get(n, "up"), "migrate up", &m->up) < 0)
        return -1;
    if (ynode_get(n, "down") && want_list(l, ynode_get(n, "down"), "migrate down", &m->down) < 0)
        return -1;
    if (ynode_get(n, "revision_query") &&
        want_str(l, ynode_get(n, "revision_query"), "revision_query", &m->revision_query) < 0)
        return -1;
    if (ynode_get(n, "stop_during") &&
        want_list(l, ynode_get(n, "stop_during"), "stop_during", &m->stop_during) < 0)
        return -1;
    if (ynode_get(n, "rehearse") &&
        want_bool(l, ynode_get(n, "rehearse"), "rehearse", &m->rehearse) < 0)
        return -1;
    if (!strcmp(m->kind, "command") && (!m->service || !m->up.n))
        return perr(l, n, "a command migration needs service: and up: (the upgrade command)");
    if (!strcmp(m->kind, "sql") && !m->dir)
        return perr(l, n, "an sql migration needs dir: (NNNN_name.up.sql files)");
    return 0;
}

static int parse_root(struct ploader *l, const struct ynode *root)
{
    static const char *const keys[] = {"version", "project",  "compose",  "env_files", "profiles",
                                       "release", "tiers",    "database", "backup",    "migrate",
                                       "verify",  "timeouts", "on_crash", "rollback",  NULL};
    struct plan *p = l->p;
    const struct ynode *n;

    if (want_map(l, root, "a plan") < 0 || known_keys(l, root, "the plan", keys) < 0)
        return -1;
    if (!(n = ynode_get(root, "version")))
        return perr(l, root, "the plan needs version: %d", PLAN_VERSION);
    if (want_int(l, n, "version", 1, &p->version) < 0)
        return -1;
    if (p->version != PLAN_VERSION)
        return perr(l, n, "plan version %d is not supported: this ttdeploy reads version %d",
                    p->version, PLAN_VERSION);
    if ((n = ynode_get(root, "project")) && want_str(l, n, "project", &p->project) < 0)
        return -1;
    struct strv rel = {0};
    if ((n = ynode_get(root, "compose")) && want_list(l, n, "compose", &rel) < 0) {
        strv_clear(&rel);
        return -1;
    }
    if (!rel.n)
        strv_push(&rel, "compose.yml");
    for (size_t i = 0; i < rel.n; i++)
        strv_push_owned(&p->compose, resolve(p, rel.v[i]));
    strv_clear(&rel);
    if ((n = ynode_get(root, "env_files"))) {
        if (want_list(l, n, "env_files", &rel) < 0) {
            strv_clear(&rel);
            return -1;
        }
        for (size_t i = 0; i < rel.n; i++)
            strv_push_owned(&p->env_files, resolve(p, rel.v[i]));
        strv_clear(&rel);
    }
    if ((n = ynode_get(root, "profiles")) && want_list(l, n, "profiles", &p->profiles) < 0)
        return -1;
    if (!(n = ynode_get(root, "release")))
        return perr(l, root, "the plan needs release: with at least version:");
    if (parse_release(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "tiers"))) {
        static const char *const tkeys[] = {"infra", "app", NULL};
        if (want_map(l, n, "tiers") < 0 || known_keys(l, n, "tiers", tkeys) < 0)
            return -1;
        if (ynode_get(n, "infra") &&
            want_list(l, ynode_get(n, "infra"), "tiers infra", &p->infra) < 0)
            return -1;
        if (ynode_get(n, "app") && want_list(l, ynode_get(n, "app"), "tiers app", &p->app) < 0)
            return -1;
        p->tiers_given = 1;
    }
    if ((n = ynode_get(root, "database"))) {
        static const char *const dkeys[] = {"service", "url", NULL};
        if (want_map(l, n, "database") < 0 || known_keys(l, n, "database", dkeys) < 0)
            return -1;
        if (ynode_get(n, "service") &&
            want_str(l, ynode_get(n, "service"), "database service", &p->db_service) < 0)
            return -1;
        if (!ynode_get(n, "url"))
            return perr(l, n, "database needs url: postgresql://USER:PASSWORD@HOST:PORT/DB");
        if (want_str(l, ynode_get(n, "url"), "database url", &p->db_url) < 0)
            return -1;
        if (strncmp(p->db_url, "postgresql://", 13) && strncmp(p->db_url, "postgres://", 11))
            return perr(l, ynode_get(n, "url"), "database url must start with postgresql://");
    }
    if ((n = ynode_get(root, "backup")) && parse_backup(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "migrate")) && parse_migrate(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "verify"))) {
        if (n->kind != YNODE_SEQ)
            return perr(l, n, "verify must be a list of checks");
        p->checks = xcalloc(n->n + 1, sizeof(*p->checks));
        for (size_t i = 0; i < n->n; i++) {
            p->nchecks++;
            if (parse_check(l, n->items[i], &p->checks[i]) < 0)
                return -1;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(p->checks[j].name, p->checks[i].name))
                    return perr(l, n->items[i], "two checks are named \"%s\": names must differ",
                                p->checks[i].name);
        }
    }
    p->healthy_timeout_ms = 120000;
    p->verify_timeout_ms = 60000;
    if ((n = ynode_get(root, "timeouts"))) {
        static const char *const tkeys[] = {"healthy", "verify", NULL};
        if (want_map(l, n, "timeouts") < 0 || known_keys(l, n, "timeouts", tkeys) < 0)
            return -1;
        if (ynode_get(n, "healthy") &&
            want_ms(l, ynode_get(n, "healthy"), "timeouts healthy", &p->healthy_timeout_ms) < 0)
            return -1;
        if (ynode_get(n, "verify") &&
            want_ms(l, ynode_get(n, "verify"), "timeouts verify", &p->verify_timeout_ms) < 0)
            return -1;
    }
    static const char *const crash[] = {"rollback", "resume", NULL};
    if ((n = ynode_get(root, "on_crash"))) {
        if (want_name(l, n, "on_crash", crash, &p->on_crash) < 0)
            return -1;
    } else {
        p->on_crash = xstrdup("rollback");
    }
    if ((n = ynode_get(root, "rollback"))) {
        static const char *const rkeys[] = {"matrix", NULL};
        if (want_map(l, n, "rollback") < 0 || known_keys(l, n, "rollback", rkeys) < 0)
            return -1;
        const struct ynode *m = ynode_get(n, "matrix");
        if (m) {
            if (m->kind != YNODE_SEQ)
                return perr(l, m, "rollback matrix must be a list of rules");
            p->rules = xcalloc(m->n + 1, sizeof(*p->rules));
            for (size_t i = 0; i < m->n; i++) {
                p->nrules++;
                if (parse_rule(l, m->items[i], &p->rules[i]) < 0)
                    return -1;
            }
            for (size_t i = 0; i < p->nrules; i++) {
                if (!p->rules[i].check)
                    continue;
                size_t j;
                for (j = 0; j < p->nchecks; j++)
                    if (!strcmp(p->checks[j].name, p->rules[i].check))
                        break;
                if (j == p->nchecks)
                    return tt_error_at(l->err, p->rules[i].at.file, p->rules[i].at.line,
                                       p->rules[i].at.col,
                                       "rollback rule names check \"%s\", which verify: does not "
                                       "define",
                                       p->rules[i].check);
            }
        }
    }
    return 0;
}

int plan_parse(const char *path, const char *data, size_t len, const struct vars *env,
               struct plan **out, struct tt_err *err)
{
    struct ploader l = {0};
    struct plan *p = xcalloc(1, sizeof(*p));
    struct vars own = {0};
    char real[PATH_MAX];
    struct ydoc *doc;

    *out = NULL;
    l.p = p;
    l.err = err;
    p->path = xstrdup(path);
    p->dir = xstrdup(realpath(path, real) ? real : path);
    if (strrchr(p->dir, '/'))
        *strrchr(p->dir, '/') = '\0';
    else
        strcpy(p->dir, ".");
    sha256_hex(data, len, p->sha256); /* the file as written, for the audit */
    doc = ydoc_parse(path, data, len, 0, err);
    if (!doc) {
        plan_free(p);
        return -1;
    }
    if (!env) {
        vars_add_environ(&own);
        env = &own;
    }
    int rc = doc->root ? 0 : tt_error_at(err, path, 1, 1, "the plan is empty: see plans/README.md");
    if (rc == 0)
        rc = vars_interpolate_doc(env, doc, &p->warnings, err);
    if (rc == 0)
        rc = parse_root(&l, doc->root);
    vars_clear(&own);
    ydoc_free(doc);
    if (rc < 0) {
        plan_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int plan_load(const char *path, const struct vars *env, struct plan **out, struct tt_err *err)
{
    FILE *f = fopen(path, "rb");
    struct buf data = {0};
    char chunk[8192];
    size_t n;

    *out = NULL;
    if (!f)
        return tt_error_at(err, path, 0, 0, "cannot open the plan: %s", strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(&data, chunk, n);
    fclose(f);
    int rc = plan_parse(path, data.data ? data.data : "", data.len, env, out, err);
    buf_release(&data);
    return rc;
}

static int service_known(const struct compose_project *proj, const char *name)
{
    return compose_find_service(proj, name) != NULL;
}

static int need_service(const struct plan *p, const struct compose_project *proj, const char *what,
                        const char *name, struct tt_err *err)
{
    if (!name || service_known(proj, name))
        return 0;
    const char **names = xcalloc(proj->nservices + 1, sizeof(*names));
    for (size_t i = 0; i < proj->nservices; i++)
        names[i] = proj->services[i]->name;
    const char *hint = suggest_closest(name, names, proj->nservices);
    free(names);
    if (hint)
        return tt_error_at(err, p->path, 0, 0,
                           "%s names service \"%s\", which the compose project does not define "
                           "(did you mean \"%s\"?)",
                           what, name, hint);
    return tt_error_at(err, p->path, 0, 0,
                       "%s names service \"%s\", which the compose project does not define", what,
                       name);
}

int plan_check_project(struct plan *p, const struct compose_project *proj, const struct dag *d,
                       struct tt_err *err)
{
    if (p->project && strcmp(p->project, proj->name))
        return tt_error_at(err, p->path, 0, 0,
                           "the plan is for project \"%s\" but the compose files define \"%s\": "
                           "fix project: or the compose name:",
                           p->project, proj->name);
    for (size_t i = 0; i < p->image_services.n; i++)
        if (need_service(p, proj, "release images", p->image_services.v[i], err) < 0)
            return -1;
    for (size_t i = 0; i < p->infra.n; i++)
        if (need_service(p, proj, "tiers infra", p->infra.v[i], err) < 0)
            return -1;
    for (size_t i = 0; i < p->app.n; i++) {
        if (need_service(p, proj, "tiers app", p->app.v[i], err) < 0)
            return -1;
        if (strv_contains(&p->infra, p->app.v[i]))
            return tt_error_at(err, p->path, 0, 0,
                               "service \"%s\" is in both tiers: put it in infra or app",
                               p->app.v[i]);
    }
    if (need_service(p, proj, "database", p->db_service, err) < 0 ||
        need_service(p, proj, "migrate", p->migrate.service, err) < 0)
        return -1;
    for (size_t i = 0; i < p->migrate.stop_during.n; i++)
        if (need_service(p, proj, "migrate stop_during", p->migrate.stop_during.v[i], err) < 0)
            return -1;
    for (size_t i = 0; i < p->nchecks; i++) {
        if (need_service(p, proj, "check", p->checks[i].from, err) < 0 ||
            need_service(p, proj, "check", p->checks[i].service, err) < 0)
            return -1;
        if (p->checks[i].kind == PLAN_CHECK_SQL && !p->db_url)
            return tt_error_at(err, p->checks[i].at.file, p->checks[i].at.line, p->checks[i].at.col,
                               "check \"%s\" runs SQL but the plan has no database: url",
                               p->checks[i].name);
    }
    /* Default tiers: infra is what the first layer holds and others depend on. */
    if (p->infra.n == 0) {
        for (size_t k = d->layer_start[0]; d->nlayers && k < d->layer_start[1]; k++) {
            size_t i = d->order[k];
            int depended = 0;
            for (size_t e = 0; e < d->nedges; e++)
                depended |= d->edges[e].to == i;
            if (depended && !strv_contains(&p->app, dag_name(d, i)))
                strv_push(&p->infra, dag_name(d, i));
        }
    }
    if (p->app.n == 0 || !p->tiers_given) {
        for (size_t k = 0; k < d->n; k++) {
            const char *name = dag_name(d, d->order[k]);
            if (!strv_contains(&p->infra, name) && !strv_contains(&p->app, name))
                strv_push(&p->app, name);
        }
    }
    /* A service listed nowhere would never be deployed: refuse. */
    for (size_t i = 0; i < proj->nservices; i++) {
        const char *name = proj->services[i]->name;
        if (!strv_contains(&p->infra, name) && !strv_contains(&p->app, name))
            return tt_error_at(
                err, p->path, 0, 0,
                "service \"%s\" is in no tier: add it to tiers infra: or app:", name);
    }
    return 0;
}

const char *plan_image_for(const struct plan *p, const char *service)
{
    for (size_t i = 0; i < p->image_services.n; i++)
        if (!strcmp(p->image_services.v[i], service))
            return p->image_refs.v[i];
    return NULL;
}

int plan_is_infra(const struct plan *p, const char *service)
{
    return strv_contains(&p->infra, service);
}

void plan_free(struct plan *p)
{
    if (!p)
        return;
    free(p->path);
    free(p->dir);
    free(p->project);
    strv_clear(&p->compose);
    strv_clear(&p->env_files);
    strv_clear(&p->profiles);
    free(p->release_version);
    free(p->git_repo);
    free(p->git_tag);
    free(p->git_commit);
    strv_clear(&p->image_services);
    strv_clear(&p->image_refs);
    strv_clear(&p->infra);
    strv_clear(&p->app);
    free(p->db_service);
    free(p->db_url);
    free(p->backup.dir);
    free(p->backup.verify);
    free(p->migrate.kind);
    free(p->migrate.service);
    free(p->migrate.dir);
    strv_clear(&p->migrate.up);
    strv_clear(&p->migrate.down);
    free(p->migrate.revision_query);
    strv_clear(&p->migrate.stop_during);
    for (size_t i = 0; i < p->nchecks; i++) {
        struct plan_check *c = &p->checks[i];
        free(c->name);
        free(c->url);
        free(c->body);
        free(c->from);
        free(c->service);
        strv_clear(&c->command);
        free(c->sql);
        free(c->expect);
    }
    free(p->checks);
    free(p->on_crash);
    for (size_t i = 0; i < p->nrules; i++) {
        struct plan_rule *r = &p->rules[i];
        free(r->phase);
        free(r->check);
        free(r->service);
        free(r->condition);
        free(r->cond.text);
        free(r->severity);
        strv_clear(&r->actions);
    }
    free(p->rules);
    strv_clear(&p->warnings);
    free(p);
}
