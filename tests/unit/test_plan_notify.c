/*
 * test_plan_notify.c - the notify: section of a plan: webhooks load with
 * their defaults, header values come from the environment, and every bad
 * input names file:line:column and what to do, without showing the URL or
 * a header's value.
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

TestSuite(plan_notify, .init = setup, .fini = teardown);

#define HEAD "version: 1\nrelease: {version: v1}\n"

static void env_of(struct vars *v)
{
    vars_set(v, "HOOK_TOKEN", "tok-s3cret");
    vars_set(v, "HOOK_URL", "https://hooks.example.com/services/T1/B2/XYZ");
}

static struct plan *load_ok(const char *text)
{
    struct vars v = {0};
    env_of(&v);
    struct plan *p = tu_plan_ok(dir, text, &v);
    vars_clear(&v);
    return p;
}

static const char *load_err(const char *text)
{
    static struct tt_err err;
    struct vars v = {0};
    env_of(&v);
    const char *at = tu_plan_err(dir, text, &v, &err);
    vars_clear(&v);
    cr_assert_null(strstr(err.msg, "tok-s3cret"), "a header value is never shown: %s", err.msg);
    cr_assert_null(strstr(err.msg, "XYZ"), "a URL's path is never shown: %s", err.msg);
    return at;
}

Test(plan_notify, defaults)
{
    struct plan *p = load_ok(HEAD "notify:\n  - url: http://127.0.0.1:9/hook\n");
    cr_assert_eq(p->nnotify, 1);
    cr_assert_str_eq(p->notify[0].url, "http://127.0.0.1:9/hook");
    cr_assert_eq(p->notify[0].events, (1u << PLAN_NOTIFY_NEVENTS) - 1, "every event by default");
    cr_assert_eq(p->notify[0].timeout_ms, PLAN_NOTIFY_TIMEOUT_MS);
    cr_assert_eq(p->notify[0].header_names.n, 0);
    cr_assert_eq(p->notify[0].at.line, 4);
    plan_free(p);
}

Test(plan_notify, full_webhook_from_environment)
{
    struct plan *p =
        load_ok(HEAD "notify:\n"
                     "  - url: ${HOOK_URL}\n"
                     "    on: [failed, rolled_back]\n"
                     "    headers: {Authorization: 'Bearer ${HOOK_TOKEN}', X-Team: ops}\n"
                     "    timeout: 1s\n"
                     "  - url: https://b.example.com\n"
                     "    on: succeeded\n");
    cr_assert_eq(p->nnotify, 2);
    cr_assert_str_eq(p->notify[0].url, "https://hooks.example.com/services/T1/B2/XYZ");
    cr_assert_eq(p->notify[0].events, (1u << PLAN_NOTIFY_FAILED) | (1u << PLAN_NOTIFY_ROLLED_BACK));
    cr_assert_eq(p->notify[0].timeout_ms, 1000);
    cr_assert_eq(p->notify[0].header_names.n, 2);
    cr_assert_str_eq(p->notify[0].header_names.v[0], "Authorization");
    cr_assert_str_eq(p->notify[0].header_values.v[0], "Bearer tok-s3cret");
    cr_assert_str_eq(p->notify[0].header_values.v[1], "ops");
    cr_assert_eq(p->notify[1].events, 1u << PLAN_NOTIFY_SUCCEEDED);
    cr_assert_str_eq(plan_notify_event_name(PLAN_NOTIFY_ROLLBACK_FAILED), "rollback_failed");
    plan_free(p);
}

Test(plan_notify, a_default_covers_an_unset_variable)
{
    struct plan *p = load_ok(HEAD "notify:\n  - url: http://h/x\n"
                                  "    headers: {X-Env: '${NOPE_UNSET:-prod}'}\n");
    cr_assert_str_eq(p->notify[0].header_values.v[0], "prod");
    plan_free(p);
}

/*
 * A webhook's variable that is not set: the plan loads (recover must not
 * be kept from finishing by it), without webhooks, and notify_unset says
 * where and what to do (apply refuses to begin with it).
 */
static char *unset_message(const char *text)
{
    struct plan *p = load_ok(text);
    cr_assert_eq(p->nnotify, 0);
    cr_assert_not_null(p->notify_unset);
    char *m = xstrdup(strstr(p->notify_unset, "plan.yml:"));
    plan_free(p);
    return m;
}

Test(plan_notify, unset_header_variable_is_named)
{
    char *m = unset_message(HEAD "notify:\n  - url: http://h/x\n"
                                 "    headers: {Authorization: 'Bearer ${NOTIFY_TOKEN_UNSET}'}\n");
    cr_assert(strstr(m, "plan.yml:5:") == m, "%s", m);
    cr_assert(strstr(m, "header Authorization uses ${NOTIFY_TOKEN_UNSET}, which is not set") &&
                  strstr(m, "export NOTIFY_TOKEN_UNSET"),
              "%s", m);
    free(m);
}

Test(plan_notify, unset_url_variable_is_named)
{
    char *m = unset_message(HEAD "notify:\n  - url: ${WEBHOOK_URL_UNSET}\n");
    cr_assert(strstr(m, "plan.yml:4:") == m && strstr(m, "url uses ${WEBHOOK_URL_UNSET}"), "%s", m);
    free(m);
}

Test(plan_notify, bad_urls)
{
    const char *m = load_err(HEAD "notify:\n  - url: ftp://h/XYZ\n");
    cr_assert(strstr(m, "plan.yml:4:") == m && strstr(m, "must start with http:// or https://"),
              "%s", m);
    m = load_err(HEAD "notify:\n  - url: https:///XYZ\n");
    cr_assert(strstr(m, "has no host"), "%s", m);
    m = load_err(HEAD "notify:\n  - url: 'http://h/a XYZ'\n");
    cr_assert(strstr(m, "space or a control character"), "%s", m);
    m = load_err(HEAD "notify:\n  - on: [failed]\n");
    cr_assert(strstr(m, "needs url:"), "%s", m);
}

Test(plan_notify, bad_events_and_keys)
{
    const char *m = load_err(HEAD "notify:\n  - url: http://h/x\n    on: [faild]\n");
    cr_assert(strstr(m, "plan.yml:5:") == m && strstr(m, "faild") && strstr(m, "failed"), "%s", m);
    m = load_err(HEAD "notify:\n  - url: http://h/x\n    on: []\n");
    cr_assert(strstr(m, "names no event"), "%s", m);
    m = load_err(HEAD "notify:\n  - url: http://h/x\n    header: {A: b}\n");
    cr_assert(strstr(m, "plan.yml:5:") == m && strstr(m, "headers"), "unknown key, with a hint: %s",
              m);
    m = load_err(HEAD "notify: {url: http://h/x}\n");
    cr_assert(strstr(m, "plan.yml:3:") == m, "notify is a list: %s", m);
    m = load_err(HEAD "notify:\n  - url: http://h/x\n    timeout: 2m\n");
    cr_assert(strstr(m, "at most 60s"), "%s", m);
}

Test(plan_notify, bad_headers)
{
    const char *m = load_err(HEAD "notify:\n  - url: http://h/x\n    headers: {'Bad Name': x}\n");
    cr_assert(strstr(m, "is not a header name"), "%s", m);
    m = load_err(HEAD "notify:\n  - url: http://h/x\n    headers: {content-type: text/plain}\n");
    cr_assert(strstr(m, "Content-Type is set by ttdeploy"), "%s", m);
    m = load_err(HEAD "notify:\n  - url: http://h/x\n    headers: {A: x, a: '${HOOK_TOKEN}'}\n");
    cr_assert(strstr(m, "given twice"), "%s", m);
    m = load_err(HEAD "notify:\n  - url: http://h/x\n    headers: {A: \"${HOOK_TOKEN}\\nX: y\"}\n");
    cr_assert(strstr(m, "line break"), "header injection refused: %s", m);
    m = load_err(HEAD "notify:\n  - url: http://h/x\n    headers: {A: ''}\n");
    cr_assert(strstr(m, "header A is empty"), "%s", m);
    m = load_err(HEAD "notify:\n  - url: http://h/x\n    headers: {A: [x]}\n");
    cr_assert(strstr(m, "needs a value"), "%s", m);
}
