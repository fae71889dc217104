/*
 * matrix.c - matching failures against rollback rules.
 */
#include "matrix.h"
#include "verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char default_text[] =
    "# The built-in rollback matrix, used when a plan has no rollback: section.\n"
    "version: 1\n"
    "release: {version: built-in}\n"
    "rollback:\n"
    "  matrix:\n"
    "    # A check before anything changed failed: stop, change nothing.\n"
    "    - when: {phase: preflight}\n"
    "      severity: high\n"
    "      do: [abort]\n"
    "    # Nothing has changed yet: stop, change nothing.\n"
    "    - when: {phase: backup}\n"
    "      severity: high\n"
    "      do: [abort]\n"
    "    # A migration failed part way: bring the schema back; the apps were not touched.\n"
    "    - when: {phase: migrate}\n"
    "      severity: critical\n"
    "      do: [migrations]\n"
    "    # Anything later: the previous images, then the previous schema.\n"
    "    - when: {}\n"
    "      severity: critical\n"
    "      do: [images, migrations]\n";

const char *matrix_default_text(void)
{
    return default_text;
}

struct plan *matrix_default_new(void)
{
    struct plan *p = NULL;
    struct tt_err err = {0};
    if (plan_parse("<built-in matrix>", default_text, sizeof(default_text) - 1, NULL, &p, &err) <
        0) {
        fprintf(stderr, "internal error: the built-in matrix does not parse: %s\n", err.msg);
        abort();
    }
    return p;
}

void matrix_failure_init(struct matrix_failure *f)
{
    memset(f, 0, sizeof(*f));
    f->error_rate = NAN;
    f->p95_ms = NAN;
    f->p95_before_ms = NAN;
}

static int compare(double a, const char *op, double b)
{
    if (!strcmp(op, ">"))
        return a > b;
    if (!strcmp(op, ">="))
        return a >= b;
    if (!strcmp(op, "<"))
        return a < b;
    if (!strcmp(op, "<="))
        return a <= b;
    if (!strcmp(op, "!="))
        return a != b;
    return a == b;
}

int matrix_condition_holds(const struct plan_condition *c, const struct matrix_failure *f,
                           struct buf *measured)
{
    switch (c->metric) {
    case PLAN_METRIC_ERROR_RATE:
        if (isnan(f->error_rate))
            return 0;
        buf_printf(measured, "error_rate %.1f%% %s %.1f%%", f->error_rate * 100, c->op,
                   c->number * 100);
        return compare(f->error_rate, c->op, c->number);
    case PLAN_METRIC_P95:
        if (isnan(f->p95_ms))
            return 0;
        if (c->ratio_before) {
            if (isnan(f->p95_before_ms) || f->p95_before_ms <= 0)
                return 0;
            buf_printf(measured, "p95 %.1f ms = %.2fx the %.1f ms before, %s %.2fx", f->p95_ms,
                       f->p95_ms / f->p95_before_ms, f->p95_before_ms, c->op, c->number);
            return compare(f->p95_ms / f->p95_before_ms, c->op, c->number);
        }
        buf_printf(measured, "p95 %.1f ms %s %.1f ms", f->p95_ms, c->op, c->number);
        return compare(f->p95_ms, c->op, c->number);
    case PLAN_METRIC_HEALTH:
        if (!f->health)
            return 0;
        buf_printf(measured, "health %s %s %s", f->health, c->op, c->text);
        return !strcmp(c->op, "=") == !strcmp(f->health, c->text);
    case PLAN_METRIC_VALUE: {
        char expect[600];
        if (!f->value)
            return 0;
        if (!strcmp(c->text, "before") && !f->value_before)
            return 0;
        snprintf(expect, sizeof(expect), "%s %s", c->op, c->text);
        buf_printf(measured, "value %s %s %s", f->value, c->op,
                   strcmp(c->text, "before") ? c->text : f->value_before);
        return verify_compare(f->value, expect, f->value_before);
    }
    }
    return 0;
}

static int rule_matches(const struct plan_rule *r, const struct matrix_failure *f, struct buf *why)
{
    if (r->phase && (!f->phase || strcmp(r->phase, f->phase)))
        return 0;
    if (r->check && (!f->check || strcmp(r->check, f->check)))
        return 0;
    if (r->service && (!f->service || strcmp(r->service, f->service)))
        return 0;
    buf_reset(why);
    if (r->condition)
        return matrix_condition_holds(&r->cond, f, why);
    if (r->phase || r->check || r->service) {
        buf_printf(why, "failed in %s", f->phase ? f->phase : "?");
        if (f->check)
            buf_printf(why, ", check %s", f->check);
        if (f->service)
            buf_printf(why, ", service %s", f->service);
    } else {
        buf_adds(why, "matches any failure");
    }
    return 1;
}

int matrix_decide(const struct plan_rule *rules, size_t n, const struct matrix_failure *f,
                  struct matrix_decision *d)
{
    for (size_t i = 0; i < n; i++) {
        if (rule_matches(&rules[i], f, &d->why)) {
            d->rule = &rules[i];
            d->index = i + 1;
            return 0;
        }
    }
    buf_reset(&d->why);
    d->rule = NULL;
    return -1;
}

int matrix_decide_crash(const struct plan_rule *rules, size_t n, const struct matrix_failure *f,
                        struct matrix_decision *d)
{
    for (size_t i = 0; i < n; i++) {
        const struct plan_rule *r = &rules[i];
        if (!r->phase || !f->phase || strcmp(r->phase, f->phase) || !r->nactions ||
            r->actions[0] == PLAN_ACTION_NONE || r->actions[0] == PLAN_ACTION_ABORT)
            continue;
        if (rule_matches(r, f, &d->why)) {
            d->rule = r;
            d->index = i + 1;
            return 0;
        }
    }
    buf_reset(&d->why);
    d->rule = NULL;
    return -1;
}

void matrix_decision_clear(struct matrix_decision *d)
{
    buf_release(&d->why);
}

void matrix_rule_describe(const struct plan_rule *r, struct buf *out)
{
    size_t start = out->len;
    if (r->phase)
        buf_printf(out, "phase %s", r->phase);
    if (r->check)
        buf_printf(out, "%scheck %s", out->len > start ? ", " : "", r->check);
    if (r->service)
        buf_printf(out, "%sservice %s", out->len > start ? ", " : "", r->service);
    if (r->condition)
        buf_printf(out, "%s%s", out->len > start ? ", " : "", r->condition);
    if (out->len == start)
        buf_adds(out, "any failure");
    buf_adds(out, " -> ");
    for (size_t i = 0; i < r->nactions; i++)
        buf_printf(out, "%s%s", i ? ", " : "", plan_action_name(r->actions[i]));
    buf_printf(out, " (%s)", r->severity);
}

void matrix_explain(const struct plan_rule *rules, size_t n, int builtin, FILE *out)
{
    struct buf line = {0};
    fprintf(out, "%s (first match wins):\n",
            builtin ? "built-in rollback matrix (the plan has no rollback: section)"
                    : "rollback matrix");
    for (size_t i = 0; i < n; i++) {
        buf_reset(&line);
        matrix_rule_describe(&rules[i], &line);
        if (builtin)
            fprintf(out, "  %zu. %s\n", i + 1, line.data);
        else
            fprintf(out, "  %zu. %s  [%s:%d]\n", i + 1, line.data, rules[i].at.file,
                    rules[i].at.line);
    }
    if (n == 0 || rules[n - 1].phase || rules[n - 1].check || rules[n - 1].service ||
        rules[n - 1].condition)
        fprintf(out, "  a failure no rule matches: fixed forward (none), and the plan should say "
                     "so: end the matrix with when: {}\n");
    fprintf(out,
            "actions: none = fix forward (leave the new release, exit non-zero); images = the "
            "previous image of each changed service; git = the compose and plan files of the "
            "previous release's git tag; migrations = downgrade to the revision before; restore "
            "= this deployment's backup; abort = stop, change nothing more\n");
    buf_release(&line);
}
