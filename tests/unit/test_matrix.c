/*
 * test_matrix.c - the rollback decision matrix: conditions parse (and bad
 * ones say which forms work), rules match on phase, check, service and
 * measurements, the first match wins, and the built-in matrix is valid.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "matrix.h"

static struct plan *parse(const char *rules)
{
    struct buf text = {0};
    struct plan *p = NULL;
    struct tt_err err = {0};
    buf_printf(&text,
               "version: 1\nrelease: {version: v1}\n"
               "verify:\n  - name: api-health\n    http: {url: \"http://127.0.0.1:1/\"}\n"
               "  - name: rows\n    sql: SELECT 1\n"
               "rollback:\n  matrix:\n%s",
               rules);
    int rc = plan_parse("plan.yml", text.data, text.len, NULL, &p, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    buf_release(&text);
    return p;
}

static const char *parse_error(const char *rules)
{
    static struct tt_err err;
    struct buf text = {0};
    struct plan *p = NULL;
    memset(&err, 0, sizeof(err));
    buf_printf(&text, "version: 1\nrelease: {version: v1}\nrollback:\n  matrix:\n%s", rules);
    cr_assert_eq(plan_parse("plan.yml", text.data, text.len, NULL, &p, &err), -1);
    buf_release(&text);
    return err.msg;
}

static size_t decide(const struct plan *p, const struct matrix_failure *f, char *why, size_t n)
{
    struct matrix_decision d = {0};
    size_t index = matrix_decide(p->rules, p->nrules, f, &d) == 0 ? d.index : 0;
    snprintf(why, n, "%s", d.why.data ? d.why.data : "");
    matrix_decision_clear(&d);
    return index;
}

Test(matrix, conditions_parse)
{
    struct plan_condition c;
    char why[512];
    cr_assert_eq(plan_condition_parse("error_rate > 5%", &c, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(c.metric, PLAN_METRIC_ERROR_RATE);
    cr_assert_float_eq(c.number, 0.05, 1e-9);
    cr_assert_str_eq(c.op, ">");
    cr_assert_eq(plan_condition_parse("error_rate>=0.2", &c, why, sizeof(why)), 0, "%s", why);
    cr_assert_float_eq(c.number, 0.2, 1e-9);
    cr_assert_eq(plan_condition_parse("p95 > 2x before", &c, why, sizeof(why)), 0, "%s", why);
    cr_assert(c.ratio_before && c.number == 2);
    cr_assert_eq(plan_condition_parse("p95 > 1.5s", &c, why, sizeof(why)), 0, "%s", why);
    cr_assert(!c.ratio_before && c.number == 1500);
    cr_assert_eq(plan_condition_parse("health == unhealthy", &c, why, sizeof(why)), 0, "%s", why);
    cr_assert_str_eq(c.op, "=");
    cr_assert_str_eq(c.text, "unhealthy");
    free(c.text);
    cr_assert_eq(plan_condition_parse("value != before", &c, why, sizeof(why)), 0, "%s", why);
    free(c.text);
}

Test(matrix, bad_conditions_say_what_works)
{
    struct plan_condition c;
    char why[512];
    cr_assert_eq(plan_condition_parse("latency > 5", &c, why, sizeof(why)), -1);
    cr_assert(strstr(why, "unknown measurement \"latency\"") && strstr(why, "error_rate > 5%"),
              "%s", why);
    cr_assert_eq(plan_condition_parse("error_rate 5%", &c, why, sizeof(why)), -1);
    cr_assert(strstr(why, "expected a comparison"), "%s", why);
    cr_assert_eq(plan_condition_parse("error_rate > 150%", &c, why, sizeof(why)), -1);
    cr_assert_eq(plan_condition_parse("p95 > 2x", &c, why, sizeof(why)), -1);
    cr_assert(strstr(why, "2x before"), "%s", why);
    cr_assert_eq(plan_condition_parse("p95 > 5 minutes", &c, why, sizeof(why)), -1);
    cr_assert_eq(plan_condition_parse("health > ok", &c, why, sizeof(why)), -1);
    const char *msg = parse_error("    - when: {condition: \"error_rat > 1%\"}\n"
                                  "      severity: low\n      do: [none]\n");
    cr_assert(strstr(msg, "plan.yml:5:") && strstr(msg, "unknown measurement"), "%s", msg);
}

Test(matrix, first_match_wins_on_place_and_measurement)
{
    struct plan *p =
        parse("    - when: {phase: verify, check: api-health, condition: \"error_rate > 5%\"}\n"
              "      severity: critical\n      do: [images]\n"
              "    - when: {phase: verify, check: api-health, condition: \"p95 > 2x before\"}\n"
              "      severity: high\n      do: [images]\n"
              "    - when: {phase: verify, check: rows, condition: \"value < before\"}\n"
              "      severity: critical\n      do: [images, migrations, restore]\n"
              "    - when: {phase: app_healthy, service: api, condition: \"health = unhealthy\"}\n"
              "      severity: critical\n      do: [images]\n"
              "    - when: {}\n      severity: low\n      do: [none]\n");
    struct matrix_failure f;
    char why[512];

    matrix_failure_init(&f);
    f.phase = "verify";
    f.check = "api-health";
    f.error_rate = 0.5;
    f.p95_ms = 10;
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 1);
    cr_assert_str_eq(why, "error_rate 50.0% > 5.0%");
    f.error_rate = 0.05; /* not above 5% */
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 5, "p95 not measured before: no ratio");
    f.p95_before_ms = 4;
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 2);
    cr_assert(strstr(why, "2.50x"), "%s", why);

    matrix_failure_init(&f);
    f.phase = "verify";
    f.check = "rows";
    f.value = "3";
    f.value_before = "5";
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 3);
    f.value = "5";
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 5);
    f.value_before = NULL; /* no baseline: the condition cannot hold */
    f.value = "3";
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 5);

    matrix_failure_init(&f);
    f.phase = "app_healthy";
    f.service = "api";
    f.health = "unhealthy";
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 4);
    f.health = "exited";
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 5);
    f.health = "unhealthy";
    f.service = "worker";
    cr_assert_eq(decide(p, &f, why, sizeof(why)), 5);
    cr_assert_str_eq(why, "matches any failure");
    plan_free(p);
}

Test(matrix, no_catch_all_means_no_decision)
{
    struct plan *p =
        parse("    - when: {phase: backup}\n      severity: high\n      do: [abort]\n");
    struct matrix_failure f;
    struct matrix_decision d = {0};
    matrix_failure_init(&f);
    f.phase = "verify";
    cr_assert_eq(matrix_decide(p->rules, p->nrules, &f, &d), -1);
    cr_assert_null(d.rule);
    matrix_decision_clear(&d);
    plan_free(p);
}

Test(matrix, builtin_matrix_is_valid_and_explained)
{
    struct plan *b = matrix_default_new();
    struct matrix_failure f;
    char why[512];
    cr_assert_eq(b->nrules, 4);
    matrix_failure_init(&f);
    f.phase = "preflight";
    cr_assert_eq(decide(b, &f, why, sizeof(why)), 1, "a failed check changed nothing: abort");
    cr_assert_eq(b->rules[0].actions[0], PLAN_ACTION_ABORT);
    f.phase = "backup";
    cr_assert_eq(decide(b, &f, why, sizeof(why)), 2);
    cr_assert_eq(b->rules[1].actions[0], PLAN_ACTION_ABORT);
    f.phase = "migrate";
    cr_assert_eq(decide(b, &f, why, sizeof(why)), 3);
    cr_assert_eq(b->rules[2].actions[0], PLAN_ACTION_MIGRATIONS);
    f.phase = "app_healthy";
    cr_assert_eq(decide(b, &f, why, sizeof(why)), 4);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    matrix_explain(b->rules, b->nrules, 1, out);
    fclose(out);
    cr_assert(strstr(text, "built-in rollback matrix"), "%s", text);
    cr_assert(strstr(text, "4. any failure -> images, migrations (critical)"), "%s", text);
    free(text);
    plan_free(b);
}

Test(matrix, a_rule_may_name_phase_preflight)
{
    struct plan *p =
        parse("    - when: {phase: preflight}\n      severity: low\n      do: [none]\n");
    cr_assert_str_eq(p->rules[0].phase, "preflight");
    plan_free(p);
}

/* The rule recover takes for a crash in phase, or 0 when it falls back to images. */
static size_t decide_crash(const struct plan *p, const char *phase)
{
    struct matrix_failure f;
    struct matrix_decision d = {0};
    matrix_failure_init(&f);
    f.phase = phase;
    f.health = "interrupted";
    size_t index = matrix_decide_crash(p->rules, p->nrules, &f, &d) == 0 ? d.index : 0;
    matrix_decision_clear(&d);
    return index;
}

Test(matrix, a_crash_is_not_a_decision)
{
    /* A catch-all, even one that rolls back, is not taken for a crash: images are. */
    struct plan *p =
        parse("    - when: {}\n      severity: low\n      do: [none]\n"
              "    - when: {phase: verify}\n      severity: high\n      do: [images]\n");
    cr_assert_eq(decide_crash(p, "app_healthy"), 0);
    plan_free(p);
    /* A rule naming the phase is taken, unless it would leave the release (none, abort). */
    p = parse("    - when: {phase: app_healthy}\n      severity: low\n      do: [none]\n"
              "    - when: {phase: app_healthy}\n      severity: high\n      do: [images, "
              "migrations]\n"
              "    - when: {}\n      severity: low\n      do: [images]\n");
    cr_assert_eq(decide_crash(p, "app_healthy"), 2);
    cr_assert_eq(decide_crash(p, "infra_up"), 0);
    plan_free(p);
    /* The built-in matrix: a crash in migrate goes back by migrations. */
    p = matrix_default_new();
    cr_assert_eq(decide_crash(p, "migrate"), 3);
    cr_assert_eq(decide_crash(p, "backup"), 0, "abort is no way back");
    cr_assert_eq(decide_crash(p, "preflight"), 0, "abort is no way back");
    plan_free(p);
}
