/*
 * test_plan_hooks.c - the hooks: section of a plan: what a good one loads
 * into (names, argv, timeouts, env), and each mistake's message with its
 * file:line:column and what to do.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "plan.h"
#include "plantest.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
}

static void teardown(void)
{
    cr_assert_eq(tu_rmtree(dir), 0);
    free(dir);
}

TestSuite(plan_hooks, .init = setup, .fini = teardown);

static struct plan *load_ok(const char *text)
{
    struct vars v = {0};
    vars_set(&v, "CHANNEL", "#deploys");
    struct plan *p = tu_plan_ok(dir, text, &v);
    vars_clear(&v);
    return p;
}

static const char *load_err(const char *text)
{
    static struct tt_err err;
    struct vars v = {0};
    return tu_plan_err(dir, text, &v, &err);
}

#define HEAD "version: 1\nrelease: {version: v1}\n"

Test(plan_hooks, a_good_section_loads)
{
    struct plan *p = load_ok(HEAD "hooks:\n"
                                  "  migrate:\n"
                                  "    before:\n"
                                  "      - {name: announce, run: \"echo $$TTDEPLOY_RELEASE\", "
                                  "timeout: 5s, env: {CHANNEL: \"${CHANNEL}\"}}\n"
                                  "      - run: [curl, -fsS, http://x/]\n"
                                  "    on_failure:\n"
                                  "      - {run: ./page.sh, service: api}\n"
                                  "  verify:\n"
                                  "    after: [{run: \"true\"}]\n");
    cr_assert_eq(p->nhooks, 4);
    const struct plan_hook *h = &p->hooks[0];
    cr_assert_str_eq(h->name, "announce");
    cr_assert_str_eq(h->phase, "migrate");
    cr_assert_eq(h->when, PLAN_HOOK_BEFORE);
    cr_assert(h->shell);
    cr_assert_eq(h->argv.n, 3);
    cr_assert_str_eq(h->argv.v[0], "/bin/sh");
    cr_assert_str_eq(h->argv.v[2], "echo $TTDEPLOY_RELEASE"); /* $$ is a shell's $ */
    cr_assert_eq(h->timeout_ms, 5000);
    cr_assert_str_eq(h->env.v[0], "CHANNEL=#deploys");
    cr_assert_null(h->service);
    h = &p->hooks[1];
    cr_assert_str_eq(h->name, "migrate.before.2");
    cr_assert(!h->shell);
    cr_assert_eq(h->argv.n, 3);
    cr_assert_str_eq(h->argv.v[0], "curl");
    cr_assert_eq(h->timeout_ms, PLAN_HOOK_TIMEOUT_DEFAULT_MS);
    h = &p->hooks[2];
    cr_assert_str_eq(h->name, "migrate.on_failure.1");
    cr_assert_eq(h->when, PLAN_HOOK_ON_FAILURE);
    cr_assert_str_eq(h->service, "api");
    cr_assert_str_eq(p->hooks[3].name, "verify.after.1");
    cr_assert_eq(plan_hook_named(p, "announce"), &p->hooks[0]);
    cr_assert_null(plan_hook_named(p, "nope"));
    plan_free(p);
}

Test(plan_hooks, a_rollback_rule_may_name_a_hook)
{
    struct plan *p = load_ok(HEAD "hooks:\n  migrate:\n    before: [{name: gate, run: \"true\"}]\n"
                                  "rollback: {matrix: [{when: {phase: migrate, check: gate}, "
                                  "severity: high, do: [abort]}]}\n");
    cr_assert_str_eq(p->rules[0].check, "gate");
    plan_free(p);
    cr_assert_str_eq(
        load_err(HEAD "hooks:\n  migrate:\n    before: [{name: gate, run: \"true\"}]\n"
                      "rollback: {matrix: [{when: {check: gat}, severity: low, do: [images]}]}\n"),
        "plan.yml:6:21: rollback rule names check \"gat\", which verify: does not define");
}

Test(plan_hooks, mistakes_say_where_and_what_to_do)
{
    cr_assert_str_eq(load_err(HEAD "hooks:\n  deploy: {before: [{run: x}]}\n"),
                     "plan.yml:4:3: unknown hooks phase \"deploy\": use one of preflight, backup, "
                     "migrate, infra_up, app_up, verify");
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrat: {before: [{run: x}]}\n"),
                     "plan.yml:4:3: unknown hooks phase \"migrat\" (did you mean \"migrate\"?); "
                     "hooks run around the phases preflight, backup"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  infra_healthy: {before: [{run: x}]}\n"),
                     "unknown hooks phase \"infra_healthy\""));
    cr_assert_str_eq(load_err(HEAD "hooks:\n  migrate: {befor: [{run: x}]}\n"),
                     "plan.yml:4:13: unknown key \"befor\" in hooks migrate (did you mean "
                     "\"before\"?)");
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: [{name: x}]}\n"),
                     "a hook needs run: a shell command"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: [{run: \"\"}]}\n"),
                     "plan.yml:4:28: hook \"migrate.before.1\": run: is empty"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: [{run: x, timeout: soon}]}\n"),
                     "plan.yml:4:40: invalid duration \"soon\" for hook timeout"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: [{run: x, timeout: 48h}]}\n"),
                     "timeout is over the limit of 24h"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: [{run: x, env: {1X: y}}]}\n"),
                     "env: \"1X\" is not an environment variable name"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: [{run: x, env: "
                                   "{TTDEPLOY_PHASE: y}}]}\n"),
                     "the TTDEPLOY_ names are ttdeploy's"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: [{name: a, run: x}], "
                                   "after: [{name: a, run: y}]}\n"),
                     "two hooks are named \"a\": names must differ"));
    cr_assert(strstr(load_err(HEAD "verify: [{name: c, sql: SELECT 1}]\n"
                                   "hooks:\n  migrate: {before: [{name: c, run: x}]}\n"),
                     "has the name of a verify check"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: [{run: x, servce: api}]}\n"),
                     "unknown key \"servce\" in a hook (did you mean \"service\"?)"));
    cr_assert(strstr(load_err(HEAD "hooks:\n  migrate: {before: {run: x}}\n"),
                     "plan.yml:4:21: hooks migrate before must be a list"));
}

Test(plan_hooks, a_phase_holds_a_bounded_number_of_hooks)
{
    struct buf b = {0};
    buf_adds(&b, HEAD "hooks:\n  verify:\n    after:\n");
    for (int i = 0; i <= PLAN_HOOKS_MAX; i++)
        buf_adds(&b, "      - {run: \"true\"}\n");
    cr_assert(strstr(load_err(b.data), "33 hooks, over the limit of 32"));
    buf_release(&b);
}
