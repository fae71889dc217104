/*
 * test_report.c - incident reports from recorded deployments: the
 * trigger, the actions, the data verdict and the degraded time.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "deploy.h"
#include "store.h"

/* A deployment as store_record_load() gives it: deployment 7 of tt, v2, by ci. */
static struct store_record deployment(enum deploy_state status, struct store_step *steps,
                                      size_t nsteps)
{
    return (struct store_record){
        .id = 7,
        .d = {.project = "tt", .version = "v2", .actor = "ci"},
        .status = status,
        .started_at = 100.0,
        .finished_at = 160.0,
        .recovered_seconds = NAN,
        .steps = steps,
        .nsteps = nsteps,
    };
}

/* A step that ended; a failed one says "api unhealthy". */
static struct store_step step(enum deploy_state phase, const char *service, const char *action,
                              enum step_status status, double t0, double t1)
{
    return (struct store_step){
        .phase = phase,
        .service = service,
        .action = action,
        .status = status,
        .started_at = t0,
        .finished_at = t1,
        .error = status == STEP_FAILED ? "api unhealthy" : NULL,
    };
}

/* report_markdown() of r, as a string the caller frees. */
static char *markdown(json_t *r)
{
    char *md = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&md, &len);
    report_markdown(r, out);
    fclose(out);
    return md;
}

Test(report, images_rollback_answers_the_runbook)
{
    struct store_step steps[] = {
        step(DEPLOY_INFRA_UP, "postgres", "unchanged", STEP_OK, 101, 101.1),
        step(DEPLOY_APP_UP, "api", "recreate", STEP_OK, 110, 111),
        step(DEPLOY_APP_HEALTHY, "api", "wait", STEP_FAILED, 110, 126),
        step(DEPLOY_DECIDING, "api", "images", STEP_OK, 126, 126),
        step(DEPLOY_ROLLING_BACK, "api", "recreate", STEP_OK, 126, 127),
        step(DEPLOY_ROLLING_BACK, NULL, "images", STEP_OK, 126, 127.5),
    };
    const char *actions[] = {"images"};
    struct store_decision decision = {
        .rule = 3,
        .severity = "critical",
        .rule_text = "phase app_healthy -> images (critical)",
        .measured = "failed in app_healthy",
        .actions = actions,
        .nactions = 1,
    };
    struct store_record d = deployment(DEPLOY_ROLLED_BACK, steps, 6);
    d.decision = &decision;
    d.recovered_seconds = 0.5;
    json_t *r = report_new(&d);
    json_t *trig = json_object_get(r, "trigger");
    cr_assert_eq(json_integer_value(json_object_get(trig, "rule")), 3);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(trig, "failed_step"), "phase")),
        "app_healthy");
    json_t *rolled = json_object_get(r, "rolled_back");
    cr_assert_eq(json_array_size(rolled), 1, "only the action's own step, not per service");
    json_t *deg = json_object_get(r, "degraded");
    cr_assert_float_eq(json_number_value(json_object_get(deg, "seconds")), 17.5, 1e-9,
                       "from the first recreate (110) to the images action done (127.5)");
    cr_assert_float_eq(json_number_value(json_object_get(deg, "detected_to_recovered_seconds")),
                       1.5, 1e-9);
    const char *verdict =
        json_string_value(json_object_get(json_object_get(r, "data"), "could_lose_data"));
    cr_assert(!strncmp(verdict, "no:", 3), "%s", verdict);

    char *md = markdown(r);
    cr_assert(strstr(md, "# Incident report: deployment 7 of tt (v2)"), "%s", md);
    cr_assert(strstr(md, "**Degraded**: 17.5 s"), "%s", md);
    free(md);
    json_decref(r);
}

Test(report, restore_counts_the_writes_it_left_out)
{
    struct store_step steps[] = {
        step(DEPLOY_MIGRATE, "postgres", "sql", STEP_OK, 105, 106),
        step(DEPLOY_VERIFY, NULL, "rows", STEP_FAILED, 120, 121),
        step(DEPLOY_ROLLING_BACK, NULL, "restore", STEP_OK, 122, 125),
    };
    struct store_backup backup = {.path = "/b/tt_7.dump", .writes = 10};
    struct store_restore restore = {
        .kept_as = "db_ttpre_restore_7", .writes_counted = 1, .writes_since_backup = 501};
    struct store_record d = deployment(DEPLOY_ROLLED_BACK, steps, 3);
    d.backups = &backup;
    d.nbackups = 1;
    d.restore = &restore;
    json_t *r = report_new(&d);
    json_t *data = json_object_get(r, "data");
    const char *verdict = json_string_value(json_object_get(data, "could_lose_data"));
    cr_assert(strstr(verdict, "possibly: 501 row write(s)") &&
                  strstr(verdict, "db_ttpre_restore_7"),
              "%s", verdict);
    cr_assert_float_eq(
        json_number_value(json_object_get(json_object_get(r, "degraded"), "seconds")), 20.0, 1e-9,
        "the migration (105) changed what users reach");
    json_decref(r);
}

Test(report, fixed_forward_is_still_degraded)
{
    struct store_step steps[] = {
        step(DEPLOY_APP_UP, "api", "create", STEP_OK, 110, 111),
        step(DEPLOY_VERIFY, NULL, "api-health", STEP_FAILED, 120, 121),
    };
    const char *actions[] = {"none"};
    struct store_decision decision = {.actions = actions, .nactions = 1};
    struct store_record d = deployment(DEPLOY_FAILED, steps, 2);
    d.decision = &decision;
    json_t *r = report_new(&d);
    json_t *deg = json_object_get(r, "degraded");
    cr_assert(json_is_null(json_object_get(deg, "to")));
    cr_assert(strstr(json_string_value(json_object_get(deg, "summary")), "still degraded"));
    cr_assert_eq(json_array_size(json_object_get(r, "rolled_back")), 0);
    json_decref(r);
}
