/*
 * plan_rules.c - the rollback matrix of a plan: its rules (when: where
 * and what failed, severity:, do: the actions), the measured conditions
 * a rule can ask for ("error_rate > 5%", "p95 > 2x before"), and the one
 * table of action names.  Matching failures against the rules is
 * deploy/matrix.c's work.
 */
#include "plan_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_names[] = {"preflight",   "backup",        "migrate",
                                          "infra_up",    "infra_healthy", "app_up",
                                          "app_healthy", "verify",        NULL};
static const char *const severity_names[] = {"critical", "high", "medium", "low", NULL};
/* Indexed by enum plan_action. */
static const char *const action_names[] = {"none",    "images", "git", "migrations",
                                           "restore", "abort",  NULL};

const char *plan_action_name(enum plan_action a)
{
    assert(a >= PLAN_ACTION_NONE && a <= PLAN_ACTION_ABORT);
    return action_names[a];
}

int plan_action_from_name(const char *name, enum plan_action *out)
{
    for (int i = 0; action_names[i]; i++) {
        if (!strcmp(name, action_names[i])) {
            *out = (enum plan_action)i;
            return 0;
        }
    }
    return -1;
}

/* ---- conditions --------------------------------------------------------- */

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* What follows the comparison for error_rate: "5%" or "0.05". */
static int error_rate_bound(const char *text, const char *end, struct plan_condition *c, char *why,
                            size_t whylen)
{
    if (*end == '%') {
        c->number /= 100;
        end = skip_spaces(end + 1);
    }
    if (*end || c->number < 0 || c->number > 1) {
        snprintf(why, whylen,
                 "condition \"%s\": an error rate is a percentage (5%%) or a fraction (0.05)",
                 text);
        return -1;
    }
    return 0;
}

/* What follows the number for p95: "ms", "s" or "x before". */
static int p95_bound(const char *text, const char *end, struct plan_condition *c, char *why,
                     size_t whylen)
{
    if (*end == 'x') {
        c->ratio_before = 1;
        if (strcmp(skip_spaces(end + 1), "before")) {
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
        snprintf(why, whylen, "condition \"%s\": unknown measurement \"%.*s\"; %s", text, (int)len,
                 s, forms);
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
    if (c->metric == PLAN_METRIC_ERROR_RATE)
        return error_rate_bound(text, skip_spaces(end), c, why, whylen);
    return p95_bound(text, skip_spaces(end), c, why, whylen);
}

/* ---- rules -------------------------------------------------------------- */

/* when: {phase:, check:, service:, condition:}, all optional. */
static int parse_when(struct ploader *l, const struct ynode *w, struct plan_rule *r)
{
    struct yfield fields[] = {
        yfield_name("phase", &r->phase, NULL, phase_names),
        yfield_string("check", &r->check, NULL),
        yfield_string("service", &r->service, NULL),
        yfield_string("condition", &r->condition, NULL),
        yfield_end(),
    };
    char why[512];
    if (yread_fields(&l->r, w, "when", fields) < 0)
        return -1;
    if (r->condition && plan_condition_parse(r->condition, &r->cond, why, sizeof(why)) < 0)
        return yread_error(&l->r, ynode_get(w, "condition"), "%s", why);
    return 0;
}

/* do: an action or a list of them; none and abort stand alone. */
static int parse_actions(struct ploader *l, const struct ynode *d, struct plan_rule *r)
{
    struct strv names = {0};
    int rc = yread_strings(&l->r, d, "do", &names);
    if (rc == 0 && names.n == 0)
        rc = yread_error(&l->r, d, "do: needs at least one action (none means fix forward)");
    if (rc == 0)
        r->actions = xcalloc(names.n, sizeof(*r->actions));
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        const struct ynode *item = d->kind == YNODE_SEQ ? d->items[i] : d;
        int a;
        rc = yread_choice(&l->r, item, "rollback action", action_names, &a);
        if (rc == 0 && (a == PLAN_ACTION_NONE || a == PLAN_ACTION_ABORT) && names.n > 1)
            rc = yread_error(&l->r, item, "\"%s\" cannot be combined with other actions",
                             action_names[a]);
        if (rc == 0)
            r->actions[r->nactions++] = (enum plan_action)a;
    }
    strv_clear(&names);
    return rc;
}

static int parse_rule(struct ploader *l, const struct ynode *n, struct plan_rule *r)
{
    struct yfield fields[] = {
        yfield_required(yfield_skip("when"),
                        "a rollback rule needs when: ({} matches any failure)"),
        yfield_required(yfield_name("severity", &r->severity, NULL, severity_names),
                        "a rollback rule needs severity: critical, high, medium or low"),
        yfield_required(yfield_skip("do"),
                        "a rollback rule needs do: a list of actions, such as [images]"),
        yfield_end(),
    };
    r->at = (struct plan_where){l->p->path, n->line, n->col};
    if (yread_fields(&l->r, n, "a rollback rule", fields) < 0)
        return -1;
    if (parse_when(l, ynode_get(n, "when"), r) < 0)
        return -1;
    return parse_actions(l, ynode_get(n, "do"), r);
}

/*
 * A rule naming a check neither verify: nor hooks: defines would never
 * match: refuse it.  A failing before hook fails its phase with its name
 * as the check.
 */
static int rule_check_defined(struct ploader *l, const struct plan_rule *r)
{
    const struct plan *p = l->p;
    if (!r->check || plan_hook_named(p, r->check))
        return 0;
    for (size_t j = 0; j < p->nchecks; j++)
        if (!strcmp(p->checks[j].name, r->check))
            return 0;
    return tt_error_at(l->r.err, r->at.file, r->at.line, r->at.col,
                       "rollback rule names check \"%s\", which verify: does not define", r->check);
}

int plan_rollback_parse(struct ploader *l, const struct ynode *n)
{
    struct plan *p = l->p;
    struct yfield fields[] = {yfield_skip("matrix"), yfield_end()};
    if (yread_fields(&l->r, n, "rollback", fields) < 0)
        return -1;
    const struct ynode *m = ynode_get(n, "matrix");
    if (!m)
        return 0;
    if (yread_list(&l->r, m, "rollback matrix") < 0)
        return -1;
    p->rules = xcalloc(m->n + 1, sizeof(*p->rules));
    for (size_t i = 0; i < m->n; i++) {
        p->nrules++;
        if (parse_rule(l, m->items[i], &p->rules[i]) < 0)
            return -1;
    }
    for (size_t i = 0; i < p->nrules; i++)
        if (rule_check_defined(l, &p->rules[i]) < 0)
            return -1;
    return 0;
}

void plan_rule_clear(struct plan_rule *r)
{
    free(r->phase);
    free(r->check);
    free(r->service);
    free(r->condition);
    free(r->cond.text);
    free(r->severity);
    free(r->actions);
}
