/*
 * test_plan.c - the plan language: a full plan loads, and every
 * validation error names file:line:column and what to do.
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

TestSuite(plan, .init = setup, .fini = teardown);

static struct plan *load_ok(const char *text)
{
    struct vars v = {0};
    vars_set(&v, "PGPASSWORD", "s3cret");
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

Test(plan, full_plan)
{
    struct plan *p = load_ok("version: 1\n"
                             "project: tasktracker\n"
                             "compose: [compose.yml, prod.yml]\n"
                             "release:\n"
                             "  version: v1.4.0\n"
                             "  git: {repo: ., tag: v1.4.0}\n"
                             "  images: {api: local/api:v1.4.0, worker: local/api:v1.4.0}\n"
                             "tiers: {infra: [postgres, nats], app: [api, worker]}\n"
                             "database:\n"
                             "  service: postgres\n"
                             "  url: postgresql://postgres:${PGPASSWORD}@127.0.0.1:5555/tt\n"
                             "backup: {dir: backups, verify: restore, keep: {last: 10}}\n"
                             "migrate:\n"
                             "  kind: command\n"
                             "  service: api\n"
                             "  up: [alembic, upgrade, head]\n"
                             "  down: [alembic, downgrade, '{revision_before}']\n"
                             "  revision_query: SELECT version_num FROM alembic_version\n"
                             "  stop_during: [worker]\n"
                             "verify:\n"
                             "  - name: api-health\n"
                             "    http: {url: 'http://127.0.0.1:8000/api/health', status: 200}\n"
                             "    probes: 20\n"
                             "    max_error_rate: 0.05\n"
                             "  - name: topics\n"
                             "    sql: SELECT count(*) FROM topics\n"
                             "    expect: '>= before'\n"
                             "  - name: ping\n"
                             "    exec: {service: api, command: [true]}\n"
                             "timeouts: {healthy: 2m, verify: 60s}\n"
                             "on_crash: resume\n"
                             "rollback:\n"
                             "  matrix:\n"
                             "    - when: {phase: verify, check: topics}\n"
                             "      severity: critical\n"
                             "      do: [images, migrations, restore]\n"
                             "    - when: {}\n"
                             "      severity: low\n"
                             "      do: [none]\n");
    cr_assert_str_eq(p->project, "tasktracker");
    cr_assert_eq(p->compose.n, 2);
    cr_assert(strstr(p->compose.v[1], "/prod.yml") != NULL, "paths resolved beside the plan");
    cr_assert_str_eq(p->git_tag, "v1.4.0");
    cr_assert_str_eq(plan_image_for(p, "worker"), "local/api:v1.4.0");
    cr_assert_null(plan_image_for(p, "nginx"));
    cr_assert(strstr(p->db_url, ":s3cret@") != NULL, "interpolated");
    cr_assert_eq(p->backup.keep_last, 10);
    cr_assert_eq(p->migrate.up.n, 3);
    cr_assert(p->migrate.rehearse, "rehearsal is on by default");
    cr_assert_eq(p->nchecks, 3);
    cr_assert_eq(p->checks[0].probes, 20);
    cr_assert_float_eq(p->checks[0].max_error_rate, 0.05, 1e-9);
    cr_assert_eq(p->checks[1].kind, PLAN_CHECK_SQL);
    cr_assert_eq(p->checks[2].kind, PLAN_CHECK_EXEC);
    cr_assert_eq(p->healthy_timeout_ms, 120000);
    cr_assert_str_eq(p->on_crash, "resume");
    cr_assert_eq(p->nrules, 2);
    cr_assert_eq(p->rules[0].nactions, 3);
    cr_assert_eq(p->rules[0].actions[2], PLAN_ACTION_RESTORE);
    cr_assert_eq(strlen(p->sha256), 64);
    plan_free(p);
}

Test(plan, defaults)
{
    struct plan *p = load_ok(HEAD);
    cr_assert_eq(p->compose.n, 1);
    cr_assert(strstr(p->compose.v[0], "/compose.yml") != NULL);
    cr_assert_str_eq(p->on_crash, "rollback");
    cr_assert_eq(p->verify_timeout_ms, 60000);
    plan_free(p);
}

/* timeouts: each bound of a wait on PostgreSQL or dockerd has a documented default and is settable.
 */
Test(plan, wait_bounds_default_and_settable)
{
    struct plan *p = load_ok(HEAD);
    cr_assert_eq(p->timeouts.connect_ms, 10000);
    cr_assert_eq(p->timeouts.statement_ms, 300000);
    cr_assert_eq(p->timeouts.lock_ms, 30000);
    cr_assert_eq(p->timeouts.request_ms, 60000);
    cr_assert_eq(p->timeouts.stall_ms, 60000);
    plan_free(p);
    p = load_ok(HEAD "timeouts: {connect: 3s, statement: 2m, lock: 1500ms, request: 20s, "
                     "stall: 45s, healthy: 30s}\n");
    cr_assert_eq(p->timeouts.connect_ms, 3000);
    cr_assert_eq(p->timeouts.statement_ms, 120000);
    cr_assert_eq(p->timeouts.lock_ms, 1500);
    cr_assert_eq(p->timeouts.request_ms, 20000);
    cr_assert_eq(p->timeouts.stall_ms, 45000);
    cr_assert_eq(p->healthy_timeout_ms, 30000);
    cr_assert_eq(p->verify_timeout_ms, 60000);
    plan_free(p);
}

Test(plan, wait_bounds_errors)
{
    cr_assert_str_eq(load_err(HEAD "timeouts: {stal: 5s}\n"),
                     "plan.yml:3:12: unknown key \"stal\" in timeouts (did you mean \"stall\"?)");
    cr_assert_str_eq(load_err(HEAD "timeouts:\n  connect: 10s\n  statment: 5m\n"),
                     "plan.yml:5:3: unknown key \"statment\" in timeouts (did you mean "
                     "\"statement\"?)");
    cr_assert_str_eq(load_err(HEAD "timeouts: {lock: 0s}\n"),
                     "plan.yml:3:18: timeouts lock must be longer than zero, such as 90s or 2m");
    cr_assert_str_eq(
        load_err(HEAD "timeouts: {request: forever}\n"),
        "plan.yml:3:21: invalid duration \"forever\" for timeouts request: write a number with "
        "a unit, such as 500ms, 10s or 1m30s");
}

/* No release, or an empty version: apply takes the git tag (CI's, or the one at HEAD). */
Test(plan, release_version_optional)
{
    struct plan *p = load_ok("version: 1\n");
    cr_assert_null(p->release_version);
    plan_free(p);
    p = load_ok("version: 1\nrelease: {version: ''}\n");
    cr_assert_str_eq(p->release_version, "");
    plan_free(p);
}

Test(plan, errors)
{
    cr_assert_str_eq(load_err("release: {version: v1}\n"),
                     "plan.yml:1:1: the plan needs version: 1");
    cr_assert_str_eq(
        load_err("version: 2\nrelease: {version: v1}\n"),
        "plan.yml:1:10: plan version 2 is not supported: this ttdeploy reads version 1");
    cr_assert_str_eq(load_err(HEAD "verfy: []\n"),
                     "plan.yml:3:1: unknown key \"verfy\" in the plan (did you mean \"verify\"?)");
    cr_assert_str_eq(
        load_err(HEAD "timeouts: {healthy: soon}\n"),
        "plan.yml:3:21: invalid duration \"soon\" for timeouts healthy: write a number with a "
        "unit, such as 500ms, 10s or 1m30s");
    cr_assert_str_eq(load_err(HEAD "timeouts: {verify: 0s}\n"),
                     "plan.yml:3:20: timeouts verify must be longer than zero, such as 90s or 2m");
    cr_assert_str_eq(load_err(HEAD "migrate: {kind: sql, dir: m, rehearse: maybe}\n"),
                     "plan.yml:3:40: rehearse must be true or false, not \"maybe\"");
    cr_assert_str_eq(load_err(HEAD "verify: {name: a}\n"),
                     "plan.yml:3:9: verify must be a list (\"- item\" lines or [a, b]), not a "
                     "mapping");
    cr_assert_str_eq(
        load_err(HEAD "verify:\n  - http: {url: 'http://x/'}\n"),
        "plan.yml:4:5: a verify check needs name: so failures and rollback rules can name it");
    cr_assert_str_eq(load_err(HEAD "verify:\n  - name: a\n    http: {url: 'ftp://u:pw@x/'}\n"),
                     "plan.yml:5:17: check \"a\": url must start with http:// or https://");
    cr_assert_str_eq(
        load_err(HEAD "verify:\n  - {name: a, sql: 'SELECT 1', http: {url: 'http://x'}}\n"),
        "plan.yml:4:5: check \"a\" needs exactly one of http:, exec: or sql:");
    cr_assert_str_eq(load_err(HEAD "verify:\n  - {name: a, sql: 'SELECT 1', expect: 'about 3'}\n"),
                     "plan.yml:4:40: expect \"about 3\" must be a comparison such as \">= 10\", "
                     "\"= ok\" or \">= before\"");
    cr_assert_str_eq(load_err(HEAD "verify:\n  - {name: a, sql: x}\n  - {name: a, sql: y}\n"),
                     "plan.yml:5:5: two checks are named \"a\": names must differ");
    cr_assert_str_eq(
        load_err(HEAD "verify:\n  - {name: a, http: {url: 'http://x'}, max_error_rate: 5}\n"),
        "plan.yml:4:56: max_error_rate must be a fraction between 0 and 1, such as 0.05");
    cr_assert_str_eq(load_err(HEAD "database: {url: 'mysql://x'}\n"),
                     "plan.yml:3:17: database url must start with postgresql://");
    cr_assert_str_eq(
        load_err(HEAD "migrate: {kind: command}\n"),
        "plan.yml:3:10: a command migration needs service: and up: (the upgrade command)");
    cr_assert_str_eq(load_err(HEAD "migrate: {kind: flyway}\n"),
                     "plan.yml:3:17: unknown migrate kind \"flyway\": use one of command, sql");
    cr_assert_str_eq(load_err(HEAD "on_crash: retry\n"),
                     "plan.yml:3:11: unknown on_crash \"retry\": use one of rollback, resume");
    cr_assert_str_eq(
        load_err(HEAD "release2: {}\n"),
        "plan.yml:3:1: unknown key \"release2\" in the plan (did you mean \"release\"?)");
}

Test(plan, action_names)
{
    enum plan_action a;
    for (int i = PLAN_ACTION_NONE; i <= PLAN_ACTION_ABORT; i++) {
        cr_assert_eq(plan_action_from_name(plan_action_name((enum plan_action)i), &a), 0);
        cr_assert_eq(a, (enum plan_action)i);
    }
    cr_assert_str_eq(plan_action_name(PLAN_ACTION_MIGRATIONS), "migrations");
    cr_assert_eq(plan_action_from_name("imagez", &a), -1);

    struct plan *p = load_ok(HEAD "rollback: {matrix: [{when: {}, severity: low, do: restore}]}\n");
    cr_assert_eq(p->rules[0].nactions, 1);
    cr_assert_eq(p->rules[0].actions[0], PLAN_ACTION_RESTORE);
    cr_assert_str_eq(plan_action_name(p->rules[0].actions[0]), "restore");
    plan_free(p);
}

Test(plan, matrix_errors)
{
    cr_assert_str_eq(
        load_err(HEAD "rollback: {matrix: [{when: {phase: verfy}, severity: low, do: [none]}]}\n"),
        "plan.yml:3:36: unknown phase \"verfy\" (did you mean \"verify\"?)");
    cr_assert_str_eq(
        load_err(HEAD "rollback: {matrix: [{when: {}, severity: urgent, do: [none]}]}\n"),
        "plan.yml:3:42: unknown severity \"urgent\": use one of critical, high, medium, low");
    cr_assert_str_eq(
        load_err(HEAD "rollback: {matrix: [{when: {}, severity: low, do: [imagez]}]}\n"),
        "plan.yml:3:52: unknown rollback action \"imagez\" (did you mean \"images\"?)");
    cr_assert_str_eq(
        load_err(HEAD "rollback: {matrix: [{when: {}, severity: low, do: [none, images]}]}\n"),
        "plan.yml:3:52: \"none\" cannot be combined with other actions");
    cr_assert_str_eq(
        load_err(HEAD "rollback: {matrix: [{when: {check: nope}, severity: low, do: [images]}]}\n"),
        "plan.yml:3:21: rollback rule names check \"nope\", which verify: does not define");
    cr_assert_str_eq(load_err(HEAD "rollback: {matrix: [{severity: low, do: [images]}]}\n"),
                     "plan.yml:3:21: a rollback rule needs when: ({} matches any failure)");
}

Test(plan, check_against_project)
{
    char *compose =
        tu_write(dir, "compose.yml",
                 "name: shop\nservices:\n  db: {image: pg}\n  api: {image: a, depends_on: [db]}\n"
                 "  web: {image: w, depends_on: [api]}\n");
    struct plan *p = NULL;
    struct compose_options co = {0};
    struct compose_project *proj = NULL;
    struct dag *d = NULL;
    struct tt_err err = {0};
    strv_push(&co.files, compose);
    cr_assert_eq(compose_load(&co, &proj, &err), 0, "%s", err.msg);
    cr_assert_eq(dag_build(proj, &d, &err), 0);
    /* default tiers */
    p = load_ok(HEAD);
    cr_assert_eq(plan_check_project(p, proj, d, &err), 0, "%s", err.msg);
    cr_assert_eq(p->infra.n, 1);
    cr_assert_str_eq(p->infra.v[0], "db");
    cr_assert_eq(p->app.n, 2);
    plan_free(p);
    /* unknown service in images, with a hint */
    p = load_ok("version: 1\nrelease: {version: v1, images: {apii: x}}\n");
    cr_assert_eq(plan_check_project(p, proj, d, &err), -1);
    cr_assert(strstr(err.msg, "release images names service \"apii\", which the compose project "
                              "does not define (did you mean \"api\"?)") != NULL,
              "%s", err.msg);
    plan_free(p);
    /* wrong project */
    p = load_ok("version: 1\nproject: other\nrelease: {version: v1}\n");
    cr_assert_eq(plan_check_project(p, proj, d, &err), -1);
    cr_assert(strstr(err.msg,
                     "the plan is for project \"other\" but the compose files define \"shop\"") !=
                  NULL,
              "%s", err.msg);
    plan_free(p);
    /* a service in no tier */
    p = load_ok(HEAD "tiers: {infra: [db], app: [api]}\n");
    cr_assert_eq(plan_check_project(p, proj, d, &err), -1);
    cr_assert(strstr(err.msg, "service \"web\" is in no tier") != NULL, "%s", err.msg);
    plan_free(p);
    /* sql check without a database */
    p = load_ok(HEAD "verify: [{name: c, sql: 'SELECT 1'}]\n");
    cr_assert_eq(plan_check_project(p, proj, d, &err), -1);
    cr_assert(strstr(err.msg, "check \"c\" runs SQL but the plan has no database: url") != NULL,
              "%s", err.msg);
    plan_free(p);
    dag_free(d);
    compose_project_free(proj);
    strv_clear(&co.files);
    free(compose);
}

Test(plan, bad_item_in_compose_list)
{
    /* Found by fuzzing: the paths read before the bad one leaked. */
    cr_assert_str_eq(load_err("version: 1\ncompose: [a.yml, [b]]\nrelease: {version: v1}\n"),
                     "plan.yml:2:18: compose must hold strings, not a list");
}

Test(plan, backup_via)
{
    struct plan *p = load_ok(HEAD "backup: {via: host}\n");
    cr_assert(p->backup.via_host);
    cr_assert_str_eq(p->backup.dir, "backups", "the default directory");
    plan_free(p);
    cr_assert_str_eq(load_err(HEAD "backup: {via: ssh}\n"),
                     "plan.yml:3:15: unknown backup via \"ssh\": use one of container, host");
}

/* A plan that never ends (/dev/zero) is refused at the size bound, not read into memory. */
Test(plan, endless_file_is_refused)
{
    struct plan *p = NULL;
    struct tt_err err = {0};
    cr_assert_eq(plan_load("/dev/zero", NULL, &p, &err), -1);
    cr_assert_null(p);
    cr_assert(strstr(err.msg, "/dev/zero") && strstr(err.msg, "16 MB"), "%s", err.msg);
}

/* audit: {public_env: [...]}: only the names listed are stored in clear. */
Test(plan, audit_public_env)
{
    struct plan *p = load_ok(HEAD "audit:\n  public_env: [LOG_LEVEL, _X1]\n");
    cr_assert(plan_env_is_public(p, "LOG_LEVEL"));
    cr_assert(plan_env_is_public(p, "_X1"));
    cr_assert_not(plan_env_is_public(p, "log_level"), "names are matched exactly");
    cr_assert_not(plan_env_is_public(p, "DB_PASS"));
    plan_free(p);
    p = load_ok(HEAD);
    cr_assert_not(plan_env_is_public(p, "LOG_LEVEL"), "without audit: nothing is public");
    plan_free(p);
    cr_assert_str_eq(load_err(HEAD "audit:\n  public_env: [LOG_LEVEL, LOG-LEVEL]\n"),
                     "plan.yml:4:27: audit public_env: \"LOG-LEVEL\" is not an environment "
                     "variable name (a letter or _, then letters, digits or _, such as "
                     "LOG_LEVEL)");
    cr_assert_str_eq(load_err(HEAD "audit:\n  public_env: [\"1A\"]\n"),
                     "plan.yml:4:16: audit public_env: \"1A\" is not an environment variable "
                     "name (a letter or _, then letters, digits or _, such as LOG_LEVEL)");
    cr_assert_str_eq(load_err(HEAD "audit: {public_envs: [A]}\n"),
                     "plan.yml:3:9: unknown key \"public_envs\" in audit (did you mean "
                     "\"public_env\"?)");
    const char *e = load_err(HEAD "audit: {public_env: {A: 1}}\n");
    cr_assert(!strncmp(e, "plan.yml:3:21: ", 15), "%s", e);
}

/* engine: where and how; state: where the store lives. */
Test(plan, engine_block)
{
    struct plan *p = load_ok(HEAD);
    cr_assert_str_eq(p->engine_mode, "local", "local mode by default");
    cr_assert_null(p->engine_host);
    cr_assert_eq(p->state_engine, 0);
    plan_free(p);

    p = load_ok(HEAD "engine: {host: 'ssh://deploy@prod:2222', mode: swarm}\nstate: engine\n");
    cr_assert_str_eq(p->engine_host, "ssh://deploy@prod:2222");
    cr_assert_str_eq(p->engine_mode, "swarm");
    cr_assert_eq(p->state_engine, 1);
    plan_free(p);

    p = load_ok(HEAD "engine: {host: '', context: ''}\n");
    cr_assert_null(p->engine_host, "an empty host (${DEPLOY_HOST:-}) is the default engine");
    plan_free(p);

    cr_assert(strstr(load_err(HEAD "engine: {mode: kubernetes}\n"), "local") != NULL);
    cr_assert(strstr(load_err(HEAD "engine: {host: tcp://a:2376, context: prod}\n"),
                     "host or context, not both") != NULL);
    cr_assert(strstr(load_err(HEAD "engine: {hots: tcp://a:2376}\n"), "host") != NULL);
    cr_assert(strstr(load_err(HEAD "state: remote\n"), "engine") != NULL);
}
