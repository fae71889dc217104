/*
 * test_report.c - incident reports from recorded deployments: the
 * trigger, the actions, the data verdict and the degraded time.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "deploy.h"

/* A deployment as store_show() returns it: steps in order, notes as a JSON string. */
static json_t *deployment(const char *status, const char *notes, json_t *steps, json_t *backups)
{
    json_t *d =
        json_pack("{s:i, s:s, s:s, s:s, s:f, s:f, s:s}", "id", 7, "project", "tt", "version", "v2",
                  "status", status, "started_at", 100.0, "finished_at", 160.0, "actor", "ci");
    json_object_set_new(d, "notes", notes ? json_string(notes) : json_null());
    json_object_set_new(d, "steps", steps);
    json_object_set_new(d, "backups", backups ? backups : json_array());
    return d;
}

static json_t *step(const char *phase, const char *service, const char *action, const char *status,
                    double t0, double t1)
{
    return json_pack("{s:s, s:s?, s:s, s:s, s:f, s:f, s:s?, s:s?}", "phase", phase, "service",
                     service, "action", action, "status", status, "started_at", t0, "finished_at",
                     t1, "detail", NULL, "error",
                     strcmp(status, "failed") ? NULL : "api unhealthy");
}

Test(report, images_rollback_answers_the_runbook)
{
    json_t *steps = json_array();
    json_array_append_new(steps, step("infra_up", "postgres", "unchanged", "ok", 101, 101.1));
    json_array_append_new(steps, step("app_up", "api", "recreate", "ok", 110, 111));
    json_array_append_new(steps, step("app_healthy", "api", "wait", "failed", 110, 126));
    json_array_append_new(steps, step("deciding", "api", "images", "ok", 126, 126));
    json_array_append_new(steps, step("rolling_back", "api", "recreate", "ok", 126, 127));
    json_array_append_new(steps, step("rolling_back", NULL, "images", "ok", 126, 127.5));
    json_t *d =
        deployment("rolled_back",
                   "{\"decision\": {\"rule\": 3, \"severity\": \"critical\", \"rule_text\": "
                   "\"phase app_healthy -> images (critical)\", \"measured\": \"failed in "
                   "app_healthy\", \"actions\": [\"images\"]}, \"recovered_seconds\": 0.5}",
                   steps, NULL);
    json_t *r = report_new(d);
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

    char *md = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&md, &len);
    report_markdown(r, out);
    fclose(out);
    cr_assert(strstr(md, "# Incident report: deployment 7 of tt (v2)"), "%s", md);
    cr_assert(strstr(md, "**Degraded**: 17.5 s"), "%s", md);
    free(md);
    json_decref(r);
    json_decref(d);
}

Test(report, restore_counts_the_writes_it_left_out)
{
    json_t *steps = json_array();
    json_array_append_new(steps, step("migrate", "postgres", "sql", "ok", 105, 106));
    json_array_append_new(steps, step("verify", NULL, "rows", "failed", 120, 121));
    json_array_append_new(steps, step("rolling_back", NULL, "restore", "ok", 122, 125));
    json_t *backups = json_pack("[{s:s, s:i}]", "path", "/b/tt_7.dump", "writes", 10);
    json_t *d = deployment("rolled_back",
                           "{\"restore\": {\"kept_as\": \"db_ttpre_restore_7\", "
                           "\"writes_since_backup\": 501}}",
                           steps, backups);
    json_t *r = report_new(d);
    json_t *data = json_object_get(r, "data");
    const char *verdict = json_string_value(json_object_get(data, "could_lose_data"));
    cr_assert(strstr(verdict, "possibly: 501 row write(s)") &&
                  strstr(verdict, "db_ttpre_restore_7"),
              "%s", verdict);
    cr_assert_float_eq(
        json_number_value(json_object_get(json_object_get(r, "degraded"), "seconds")), 20.0, 1e-9,
        "the migration (105) changed what users reach");
    json_decref(r);
    json_decref(d);
}

Test(report, fixed_forward_is_still_degraded)
{
    json_t *steps = json_array();
    json_array_append_new(steps, step("app_up", "api", "create", "ok", 110, 111));
    json_array_append_new(steps, step("verify", NULL, "api-health", "failed", 120, 121));
    json_t *d = deployment("failed", "{\"decision\": {\"actions\": [\"none\"]}}", steps, NULL);
    json_t *r = report_new(d);
    json_t *deg = json_object_get(r, "degraded");
    cr_assert(json_is_null(json_object_get(deg, "to")));
    cr_assert(strstr(json_string_value(json_object_get(deg, "summary")), "still degraded"));
    cr_assert_eq(json_array_size(json_object_get(r, "rolled_back")), 0);
    json_decref(r);
    json_decref(d);
}
