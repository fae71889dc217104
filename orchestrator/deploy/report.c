/*
 * report.c - incident reports from the audit store: what triggered a
 * deployment's failure, what was rolled back, whether data could have been
 * lost, how long users were degraded.  It reads the deployment's typed
 * record (store_record_load), and writes JSON, or Markdown from that JSON.
 *
 * Degraded time runs from the first step that changed what users reach
 * (a container created or recreated, or the schema migrated) to the end
 * of the last rollback step that brought the previous release back; a
 * deployment fixed forward is still degraded when the report is made,
 * and says so.
 */
#include "deploy.h"
#include "buf.h"
#include "markup.h"
#include "store.h"
#include "timeline.h"

#include <math.h>
#include <string.h>

static int is(const char *s, const char *want)
{
    return s && !strcmp(s, want);
}

/* A string, or null. */
static json_t *text_json(const char *v)
{
    return v ? json_string(v) : json_null();
}

/* A time or a measure, or null when it is NAN. */
static json_t *real_json(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* Whether a step changed something users reach. */
static int changes_service(const struct store_step *t)
{
    if (t->phase == DEPLOY_MIGRATE && t->status == STEP_OK)
        return 1;
    return (t->phase == DEPLOY_INFRA_UP || t->phase == DEPLOY_APP_UP) &&
           (is(t->action, "create") || is(t->action, "recreate"));
}

static json_t *deployment_json(const struct store_record *d)
{
    return json_pack("{s:I, s:o, s:o, s:s, s:o, s:o, s:o}", "id", (json_int_t)d->id, "project",
                     text_json(d->d.project), "version", text_json(d->d.version), "status",
                     deploy_state_name(d->status), "started_at", real_json(d->started_at),
                     "finished_at", real_json(d->finished_at), "actor", text_json(d->d.actor));
}

/* Sets key of o to the string v; nothing when v is NULL. */
static void set_text(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

/* The failure as the decision recorded it; the keys in the order the store sorted them. */
static json_t *failure_json(const struct store_failure *f)
{
    json_t *o = json_object();
    set_text(o, "check", f->check);
    json_object_set_new(o, "error_rate", real_json(f->error_rate));
    set_text(o, "health", f->health);
    json_object_set_new(o, "p95_before_ms", real_json(f->p95_before_ms));
    json_object_set_new(o, "p95_ms", real_json(f->p95_ms));
    set_text(o, "phase", f->phase);
    set_text(o, "service", f->service);
    set_text(o, "value", f->value);
    set_text(o, "value_before", f->value_before);
    return o;
}

/* What the rollback matrix decided, as the trigger's keys. */
static void decision_json(const struct store_decision *dec, json_t *trigger)
{
    if (dec->rule > 0)
        json_object_set_new(trigger, "rule", json_integer(dec->rule));
    set_text(trigger, "rule_text", dec->rule_text);
    set_text(trigger, "severity", dec->severity);
    set_text(trigger, "measured", dec->measured);
    if (dec->failure.phase)
        json_object_set_new(trigger, "failure", failure_json(&dec->failure));
    if (dec->at_file)
        json_object_set_new(trigger, "at",
                            json_pack("{s:s, s:i}", "file", dec->at_file, "line", dec->at_line));
    json_object_set_new(trigger, "builtin", json_boolean(dec->builtin));
}

static json_t *actions_json(const struct store_decision *dec)
{
    json_t *a = json_array();
    for (size_t i = 0; i < dec->nactions; i++)
        json_array_append_new(a, json_string(dec->actions[i]));
    return a;
}

/* Could data have been lost: the restore and the writes it left out, or a schema downgrade. */
static json_t *data_json(const struct store_record *d, int downgraded)
{
    const struct store_restore *restore = d->restore;
    json_t *data = json_object();
    struct buf verdict = {0};

    json_object_set_new(data, "backup", text_json(d->nbackups ? d->backups[0].path : NULL));
    json_object_set_new(data, "restored", json_boolean(restore != NULL));
    json_object_set_new(data, "schema_downgraded", json_boolean(downgraded));
    if (restore) {
        const char *kept = restore->kept_as ? restore->kept_as : "?";
        json_object_set_new(data, "writes_since_backup",
                            restore->writes_counted ? json_integer(restore->writes_since_backup)
                                                    : json_null());
        set_text(data, "kept_as", restore->kept_as);
        if (restore->writes_counted && restore->writes_since_backup == 0)
            buf_printf(&verdict, "no: nothing was written between the backup and the restore");
        else if (restore->writes_counted)
            buf_printf(&verdict,
                       "possibly: %lld row write(s) between the backup and the restore are not "
                       "in the restored database; they are kept in %s",
                       restore->writes_since_backup, kept);
        else
            buf_printf(&verdict,
                       "unknown: the write counter was not read; the database as it was "
                       "is kept in %s",
                       kept);
    } else if (downgraded) {
        buf_adds(&verdict, "possibly: the schema was downgraded; a down migration that drops "
                           "columns or tables drops their data (the backup has them)");
    } else {
        buf_adds(&verdict, "no: the database was not restored or downgraded");
    }
    json_object_set_new(data, "could_lose_data", json_string(verdict.data));
    buf_release(&verdict);
    return data;
}

/* The times a report measures, read from the steps. */
struct times {
    double degraded_from; /* the first step that changed what users reach; 0: none did */
    double degraded_to;   /* the end of the last rollback action that worked; 0: none */
    double detected;      /* when the failure was judged (the deciding step); 0: never */
};

/*
 * How long users were degraded: from the first changed service to the
 * previous release back, when the deployment was rolled back.
 */
static json_t *degraded_json(const struct store_record *d, const struct times *t)
{
    json_t *deg = json_object();
    if (!t->degraded_from) {
        json_object_set_new(deg, "summary", json_string("no: nothing users reach was changed"));
    } else {
        json_object_set_new(deg, "from", json_real(t->degraded_from));
        if (d->status == DEPLOY_ROLLED_BACK && t->degraded_to > t->degraded_from) {
            json_object_set_new(deg, "to", json_real(t->degraded_to));
            json_object_set_new(deg, "seconds", json_real(t->degraded_to - t->degraded_from));
            if (t->detected)
                json_object_set_new(deg, "detected_to_recovered_seconds",
                                    json_real(t->degraded_to - t->detected));
        } else {
            json_object_set_new(deg, "to", json_null());
            json_object_set_new(deg, "summary",
                                json_string(d->status == DEPLOY_RUNNING
                                                ? "the deployment is still running"
                                                : "still degraded: not rolled back (fix forward)"));
        }
    }
    if (!isnan(d->recovered_seconds))
        json_object_set_new(deg, "images_recovered_seconds", json_real(d->recovered_seconds));
    return deg;
}

json_t *report_new(const struct store_record *d)
{
    json_t *r = json_object(), *trigger = json_object(), *rolled = json_array();
    const struct store_step *failed = timeline_failed_step(d);
    struct times t = {0};
    int downgraded = 0;

    json_object_set_new(r, "deployment", deployment_json(d));
    for (size_t i = 0; i < d->nsteps; i++) {
        const struct store_step *step = &d->steps[i];
        if (!t.degraded_from && changes_service(step))
            t.degraded_from = step->started_at;
        if (step->phase == DEPLOY_DECIDING)
            t.detected = step->started_at;
        if (step->phase != DEPLOY_ROLLING_BACK || step->service)
            continue; /* a rollback action's own step has no service */
        json_array_append_new(rolled,
                              json_pack("{s:o, s:s, s:o, s:o}", "action", text_json(step->action),
                                        "status", step_status_name(step->status), "detail",
                                        text_json(step->detail), "error", text_json(step->error)));
        if (step->status == STEP_OK && !isnan(step->finished_at))
            t.degraded_to = step->finished_at;
        if (step->status == STEP_OK && is(step->action, "migrations"))
            downgraded = 1;
    }
    if (failed)
        json_object_set_new(
            trigger, "failed_step",
            json_pack("{s:s, s:o, s:o, s:o}", "phase", deploy_state_name(failed->phase), "service",
                      text_json(failed->service), "action", text_json(failed->action), "error",
                      text_json(failed->error)));
    if (d->decision) {
        decision_json(d->decision, trigger);
        json_object_set_new(r, "actions", actions_json(d->decision));
    }
    json_object_set_new(r, "trigger", trigger);
    json_object_set_new(r, "rolled_back", rolled);
    if (d->rolled_back_to)
        json_object_set_new(r, "rolled_back_to", json_integer(d->rolled_back_to));
    json_object_set_new(r, "data", data_json(d, downgraded));
    json_object_set_new(r, "degraded", degraded_json(d, &t));
    return r;
}

/*
 * Where the report is written: Markdown, or the same content as HTML
 * (headings, and list items that start with a word in bold).
 */
struct sink {
    FILE *out;
    int html;
    int in_list; /* HTML: a <ul> is open */
};

static void heading(struct sink *s, int level, const char *text)
{
    if (!s->html) {
        fprintf(s->out, "%s%s %s\n\n", level > 1 ? "\n" : "", level > 1 ? "##" : "#", text);
        return;
    }
    if (s->in_list)
        fprintf(s->out, "</ul>\n");
    s->in_list = 0;
    fprintf(s->out, "<h%d>", level);
    markup_text(s->out, text);
    fprintf(s->out, "</h%d>\n", level);
}

/* A list item: bold (NULL: none), then rest as it is. */
static void item(struct sink *s, const char *bold, const char *rest)
{
    if (!s->html) {
        fprintf(s->out, "- %s%s%s%s\n", bold ? "**" : "", bold ? bold : "", bold ? "**" : "", rest);
        return;
    }
    if (!s->in_list)
        fprintf(s->out, "<ul>\n");
    s->in_list = 1;
    fprintf(s->out, "<li>");
    if (bold) {
        fprintf(s->out, "<strong>");
        markup_text(s->out, bold);
        fprintf(s->out, "</strong>");
    }
    markup_text(s->out, rest);
    fprintf(s->out, "</li>\n");
}

/* An item "**label**: value" ("-" when value is NULL). */
static void line(struct sink *s, struct buf *b, const char *label, const char *value)
{
    buf_reset(b);
    buf_printf(b, ": %s", value ? value : "-");
    item(s, label, b->data);
}

static void write_report(json_t *r, struct sink *s)
{
    json_t *dep = json_object_get(r, "deployment"), *trig = json_object_get(r, "trigger");
    json_t *data = json_object_get(r, "data"), *deg = json_object_get(r, "degraded"), *x;
    struct buf b = {0};
    size_t i;

    buf_printf(&b, "Incident report: deployment %" JSON_INTEGER_FORMAT " of %s (%s)",
               json_integer_value(json_object_get(dep, "id")), store_text(dep, "project", "?"),
               store_text(dep, "version", "-"));
    heading(s, 1, b.data);
    line(s, &b, "Status", store_text(dep, "status", NULL));
    line(s, &b, "Actor", store_text(dep, "actor", NULL));
    heading(s, 2, "What triggered it");
    json_t *fs = json_object_get(trig, "failed_step");
    if (fs) {
        buf_reset(&b);
        buf_printf(&b, ": %s%s%s %s", store_text(fs, "phase", NULL),
                   store_text(fs, "service", NULL) ? " " : "", store_text(fs, "service", ""),
                   store_text(fs, "action", NULL));
        item(s, "Failed step", b.data);
        line(s, &b, "Error", store_text(fs, "error", NULL));
    }
    if (json_object_get(trig, "rule")) {
        buf_reset(&b);
        buf_printf(&b, ": %" JSON_INTEGER_FORMAT "%s: %s",
                   json_integer_value(json_object_get(trig, "rule")),
                   json_is_true(json_object_get(trig, "builtin")) ? " (built-in matrix)" : "",
                   store_text(trig, "rule_text", NULL));
        item(s, "Rule", b.data);
        line(s, &b, "Severity", store_text(trig, "severity", NULL));
        line(s, &b, "Measured", store_text(trig, "measured", NULL));
    } else {
        line(s, &b, "Rule", "none recorded (no rule matched, or the deployment did not fail)");
    }
    heading(s, 2, "What was rolled back");
    if (!json_array_size(json_object_get(r, "rolled_back")))
        item(s, NULL, "nothing");
    json_array_foreach(json_object_get(r, "rolled_back"), i, x)
    {
        buf_reset(&b);
        buf_printf(&b, " %s: %s", store_text(x, "status", NULL),
                   store_text(x, "error", NULL) ? store_text(x, "error", NULL)
                                                : store_text(x, "detail", ""));
        item(s, store_text(x, "action", NULL), b.data);
    }
    heading(s, 2, "Could data have been lost?");
    line(s, &b, "Answer", store_text(data, "could_lose_data", NULL));
    line(s, &b, "Backup", store_text(data, "backup", "none taken"));
    heading(s, 2, "How long was the service degraded?");
    if (json_is_number(json_object_get(deg, "seconds"))) {
        buf_reset(&b);
        buf_printf(&b,
                   ": %.1f s (from the first changed container to the previous release healthy "
                   "again)",
                   json_number_value(json_object_get(deg, "seconds")));
        item(s, "Degraded", b.data);
    }
    if (json_is_number(json_object_get(deg, "detected_to_recovered_seconds"))) {
        buf_reset(&b);
        buf_printf(&b, ": %.1f s",
                   json_number_value(json_object_get(deg, "detected_to_recovered_seconds")));
        item(s, "Failure detected to recovered", b.data);
    }
    if (store_text(deg, "summary", NULL))
        line(s, &b, "Degraded", store_text(deg, "summary", NULL));
    if (s->html && s->in_list)
        fprintf(s->out, "</ul>\n");
    s->in_list = 0;
    buf_release(&b);
}

void report_markdown(json_t *r, FILE *out)
{
    struct sink s = {out, 0, 0};
    write_report(r, &s);
}

void report_html(const struct store_record *d, json_t *r, FILE *out)
{
    struct sink s = {out, 1, 0};
    struct timeline t;
    struct buf title = {0};

    timeline_build(d, &t);
    timeline_title(&t, &title);
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    markup_text(out, title.data);
    fprintf(out, "</title>\n<style>body{font-family:sans-serif;max-width:75em;margin:1em auto;"
                 "padding:0 1em}svg{max-width:100%%;height:auto}</style>\n</head>\n<body>\n");
    write_report(r, &s);
    heading(&s, 2, "Timeline");
    timeline_svg(&t, out);
    fprintf(out, "</body>\n</html>\n");
    buf_release(&title);
    timeline_clear(&t);
}
