/*
 * report.c - incident reports from the audit store.
 *
 * Degraded time runs from the first step that changed what users reach
 * (a container created or recreated, or the schema migrated) to the end
 * of the last rollback step that brought the previous release back; a
 * deployment fixed forward is still degraded when the report is made,
 * and says so.
 */
#include "deploy.h"
#include "buf.h"
#include "store.h"

#include <string.h>

static int is(const char *s, const char *want)
{
    return s && !strcmp(s, want);
}

/* Whether a step changed something users reach. */
static int changes_service(json_t *step)
{
    const char *phase = store_text(step, "phase", NULL), *action = store_text(step, "action", NULL);
    if (is(phase, "migrate") && is(store_text(step, "status", NULL), "ok"))
        return 1;
    return (is(phase, "infra_up") || is(phase, "app_up")) &&
           (is(action, "create") || is(action, "recreate"));
}

json_t *report_new(json_t *d)
{
    json_t *r = json_object(), *notes = NULL, *steps = json_object_get(d, "steps");
    json_t *trigger = json_object(), *rolled = json_array(), *data = json_object();
    json_t *step, *failed = NULL;
    double degraded_from = 0, degraded_to = 0, detected = 0;
    size_t i;

    if (store_text(d, "notes", NULL))
        notes = json_loads(store_text(d, "notes", NULL), 0, NULL);
    json_t *decision = json_object_get(notes, "decision");
    json_object_set_new(
        r, "deployment",
        json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(d, "id"), "project",
                  json_object_get(d, "project"), "version", json_object_get(d, "version"), "status",
                  json_object_get(d, "status"), "started_at", json_object_get(d, "started_at"),
                  "finished_at", json_object_get(d, "finished_at"), "actor",
                  json_object_get(d, "actor")));
    json_array_foreach(steps, i, step)
    {
        const char *phase = store_text(step, "phase", NULL),
                   *status = store_text(step, "status", NULL);
        if (!degraded_from && changes_service(step))
            degraded_from = json_number_value(json_object_get(step, "started_at"));
        if (!failed && (is(status, "failed") || is(status, "interrupted")) &&
            !is(phase, "rolling_back"))
            failed = step;
        if (is(phase, "deciding"))
            detected = json_number_value(json_object_get(step, "started_at"));
        if (is(phase, "rolling_back") && json_is_null(json_object_get(step, "service"))) {
            json_array_append_new(rolled, json_pack("{s:O, s:O, s:O, s:O}", "action",
                                                    json_object_get(step, "action"), "status",
                                                    json_object_get(step, "status"), "detail",
                                                    json_object_get(step, "detail"), "error",
                                                    json_object_get(step, "error")));
            if (is(status, "ok") && json_is_number(json_object_get(step, "finished_at")))
                degraded_to = json_number_value(json_object_get(step, "finished_at"));
        }
    }
    if (failed)
        json_object_set_new(trigger, "failed_step",
                            json_pack("{s:O, s:O, s:O, s:O}", "phase",
                                      json_object_get(failed, "phase"), "service",
                                      json_object_get(failed, "service"), "action",
                                      json_object_get(failed, "action"), "error",
                                      json_object_get(failed, "error")));
    if (decision) {
        const char *keys[] = {"rule",    "rule_text", "severity", "measured",
                              "failure", "at",        "builtin",  NULL};
        for (size_t k = 0; keys[k]; k++)
            if (json_object_get(decision, keys[k]))
                json_object_set(trigger, keys[k], json_object_get(decision, keys[k]));
        json_object_set(r, "actions", json_object_get(decision, "actions"));
    }
    json_object_set_new(r, "trigger", trigger);
    json_object_set_new(r, "rolled_back", rolled);
    if (json_is_integer(json_object_get(notes, "rolled_back_to")))
        json_object_set(r, "rolled_back_to", json_object_get(notes, "rolled_back_to"));

    /* Data: the backup, a restore and what it left out, a schema downgrade. */
    json_t *backup = json_array_get(json_object_get(d, "backups"), 0);
    json_t *restore = json_object_get(notes, "restore");
    int downgraded = 0;
    json_array_foreach(rolled, i, step)
    {
        if (is(store_text(step, "action", NULL), "migrations") &&
            is(store_text(step, "status", NULL), "ok"))
            downgraded = 1;
    }
    json_object_set_new(data, "backup",
                        backup ? json_string(store_text(backup, "path", NULL)) : json_null());
    json_object_set_new(data, "restored", json_boolean(restore != NULL));
    json_object_set_new(data, "schema_downgraded", json_boolean(downgraded));
    struct buf verdict = {0};
    if (restore) {
        json_t *w = json_object_get(restore, "writes_since_backup");
        json_object_set(data, "writes_since_backup", w ? w : json_null());
        json_object_set(data, "kept_as", json_object_get(restore, "kept_as"));
        if (json_is_integer(w) && json_integer_value(w) == 0)
            buf_printf(&verdict, "no: nothing was written between the backup and the restore");
        else if (json_is_integer(w))
            buf_printf(&verdict,
                       "possibly: %" JSON_INTEGER_FORMAT " row write(s) between the backup and the "
                       "restore are not in the restored database; they are kept in %s",
                       json_integer_value(w), store_text(restore, "kept_as", NULL));
        else
            buf_printf(&verdict,
                       "unknown: the write counter was not read; the database as it was "
                       "is kept in %s",
                       store_text(restore, "kept_as", NULL));
    } else if (downgraded) {
        buf_adds(&verdict, "possibly: the schema was downgraded; a down migration that drops "
                           "columns or tables drops their data (the backup has them)");
    } else {
        buf_adds(&verdict, "no: the database was not restored or downgraded");
    }
    json_object_set_new(data, "could_lose_data", json_string(verdict.data));
    buf_release(&verdict);
    json_object_set_new(r, "data", data);

    json_t *deg = json_object();
    const char *status = store_text(d, "status", NULL);
    if (!degraded_from) {
        json_object_set_new(deg, "summary", json_string("no: nothing users reach was changed"));
    } else {
        json_object_set_new(deg, "from", json_real(degraded_from));
        if (is(status, "rolled_back") && degraded_to > degraded_from) {
            json_object_set_new(deg, "to", json_real(degraded_to));
            json_object_set_new(deg, "seconds", json_real(degraded_to - degraded_from));
            if (detected)
                json_object_set_new(deg, "detected_to_recovered_seconds",
                                    json_real(degraded_to - detected));
        } else {
            json_object_set_new(deg, "to", json_null());
            json_object_set_new(deg, "summary",
                                json_string(is(status, "running")
                                                ? "the deployment is still running"
                                                : "still degraded: not rolled back (fix forward)"));
        }
    }
    if (json_is_number(json_object_get(notes, "recovered_seconds")))
        json_object_set(deg, "images_recovered_seconds",
                        json_object_get(notes, "recovered_seconds"));
    json_object_set_new(r, "degraded", deg);
    json_decref(notes);
    return r;
}

static void line(FILE *out, const char *label, const char *value)
{
    fprintf(out, "- **%s**: %s\n", label, value ? value : "-");
}

void report_markdown(json_t *r, FILE *out)
{
    json_t *dep = json_object_get(r, "deployment"), *trig = json_object_get(r, "trigger");
    json_t *data = json_object_get(r, "data"), *deg = json_object_get(r, "degraded"), *x;
    size_t i;

    fprintf(out, "# Incident report: deployment %" JSON_INTEGER_FORMAT " of %s (%s)\n\n",
            json_integer_value(json_object_get(dep, "id")), store_text(dep, "project", NULL),
            store_text(dep, "version", NULL) ? store_text(dep, "version", NULL) : "-");
    line(out, "Status", store_text(dep, "status", NULL));
    line(out, "Actor", store_text(dep, "actor", NULL));
    fprintf(out, "\n## What triggered it\n\n");
    json_t *fs = json_object_get(trig, "failed_step");
    if (fs) {
        fprintf(out, "- **Failed step**: %s%s%s %s\n", store_text(fs, "phase", NULL),
                store_text(fs, "service", NULL) ? " " : "",
                store_text(fs, "service", NULL) ? store_text(fs, "service", NULL) : "",
                store_text(fs, "action", NULL));
        line(out, "Error", store_text(fs, "error", NULL));
    }
    if (json_object_get(trig, "rule")) {
        fprintf(out, "- **Rule**: %" JSON_INTEGER_FORMAT "%s: %s\n",
                json_integer_value(json_object_get(trig, "rule")),
                json_is_true(json_object_get(trig, "builtin")) ? " (built-in matrix)" : "",
                store_text(trig, "rule_text", NULL));
        line(out, "Severity", store_text(trig, "severity", NULL));
        line(out, "Measured", store_text(trig, "measured", NULL));
    } else {
        line(out, "Rule", "none recorded (no rule matched, or the deployment did not fail)");
    }
    fprintf(out, "\n## What was rolled back\n\n");
    if (!json_array_size(json_object_get(r, "rolled_back")))
        fprintf(out, "- nothing\n");
    json_array_foreach(json_object_get(r, "rolled_back"), i, x)
    {
        fprintf(out, "- **%s** %s: %s\n", store_text(x, "action", NULL),
                store_text(x, "status", NULL),
                store_text(x, "error", NULL)    ? store_text(x, "error", NULL)
                : store_text(x, "detail", NULL) ? store_text(x, "detail", NULL)
                                                : "");
    }
    fprintf(out, "\n## Could data have been lost?\n\n");
    line(out, "Answer", store_text(data, "could_lose_data", NULL));
    line(out, "Backup",
         store_text(data, "backup", NULL) ? store_text(data, "backup", NULL) : "none taken");
    fprintf(out, "\n## How long was the service degraded?\n\n");
    if (json_is_number(json_object_get(deg, "seconds")))
        fprintf(out,
                "- **Degraded**: %.1f s (from the first changed container to the previous "
                "release healthy again)\n",
                json_number_value(json_object_get(deg, "seconds")));
    if (json_is_number(json_object_get(deg, "detected_to_recovered_seconds")))
        fprintf(out, "- **Failure detected to recovered**: %.1f s\n",
                json_number_value(json_object_get(deg, "detected_to_recovered_seconds")));
    if (store_text(deg, "summary", NULL))
        line(out, "Degraded", store_text(deg, "summary", NULL));
}
