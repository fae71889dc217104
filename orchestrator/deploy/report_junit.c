/*
 * report_junit.c - a deployment as a JUnit XML report, the format every
 * CI's test view reads (Jenkins, GitLab, GitHub's test-report actions):
 *
 *   <testsuites> <testsuite name="ttdeploy PROJECT deployment ID (VERSION)">
 *     <properties> project, version, status, actor, git tag and commit
 *     <testcase classname="PHASE" name="PHASE">   one per phase with steps,
 *         and one per phase of the machine (locked .. verify) that the
 *         deployment never reached: <skipped>
 *     <testcase classname="verify" name="CHECK">  one per verify check run
 *
 * A phase fails when one of its steps failed (<failure>) or was stopped
 * (<error>: interrupted, or no outcome recorded in a finished deployment);
 * the message is the step's error, the body every such step with what it
 * measured.  A failed check's body also has what the rollback matrix
 * judged (error rate, p95 and its baseline, health, value) and the rule
 * that fired.  Times are seconds with millisecond precision; counts on
 * the testsuite and testsuites elements are those of their testcases.
 */
#include "deploy.h"
#include "buf.h"
#include "markup.h"
#include "timeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One testcase, before it is written. */
struct testcase {
    const char *classname, *name;
    double seconds;
    const char *kind;    /* "failure", "error", "skipped"; NULL: passed */
    const char *message; /* the element's message attribute */
    struct buf body;     /* the element's text */
};

struct suite {
    struct testcase *cases;
    size_t n;
    int failures, errors, skipped;
};

static struct testcase *add_case(struct suite *s, const char *classname, const char *name)
{
    struct testcase *c = &s->cases[s->n++];
    *c = (struct testcase){.classname = classname, .name = name};
    return c;
}

/* Whether a step stopped without an outcome: interrupted, or left running by an ended deployment.
 */
static int stopped(const struct store_record *d, const struct store_step *st)
{
    return st->status == STEP_INTERRUPTED ||
           (st->status == STEP_RUNNING && d->status != DEPLOY_RUNNING);
}

/* Appends one line about step st to the body: what it did and why it failed. */
static void describe_step(const struct store_step *st, struct buf *b)
{
    buf_printf(b, "step %lld %s%s%s %s: %s\n", st->seq, deploy_state_name(st->phase),
               st->service ? " " : "", st->service ? st->service : "",
               st->action ? st->action : "?", step_status_name(st->status));
    if (st->intent)
        buf_printf(b, "  intent: %s\n", st->intent);
    if (st->detail)
        buf_printf(b, "  measured: %s\n", st->detail);
    if (st->error)
        buf_printf(b, "  error: %s\n", st->error);
}

/* Marks c failed (or errored, for a stopped step) by step st, unless it already is. */
static void fail_case(const struct store_record *d, struct testcase *c, const struct store_step *st)
{
    const char *kind = stopped(d, st) ? "error" : "failure";
    if (!c->kind || (!strcmp(c->kind, "error") && !strcmp(kind, "failure"))) {
        c->kind = kind;
        c->message = st->error        ? st->error
                     : stopped(d, st) ? "the step was stopped before it ended"
                                      : "the step failed";
    }
    describe_step(st, &c->body);
}

/* What the rollback matrix judged about check (when it is the failure it judged). */
static void describe_decision(const struct store_decision *dec, const char *check, struct buf *b)
{
    const struct store_failure *f = &dec->failure;
    if (!f->check || !check || strcmp(f->check, check))
        return;
    if (!isnan(f->error_rate))
        buf_printf(b, "error rate: %.1f%%\n", f->error_rate * 100);
    if (!isnan(f->p95_ms))
        buf_printf(b, "p95: %.1f ms\n", f->p95_ms);
    if (!isnan(f->p95_before_ms))
        buf_printf(b, "p95 before: %.1f ms\n", f->p95_before_ms);
    if (f->health)
        buf_printf(b, "health: %s\n", f->health);
    if (f->value)
        buf_printf(b, "value: %s\n", f->value);
    if (f->value_before)
        buf_printf(b, "value before: %s\n", f->value_before);
    if (dec->rule > 0)
        buf_printf(b, "rule %lld%s (%s): %s%s%s\n", dec->rule, dec->builtin ? " (built-in)" : "",
                   dec->severity ? dec->severity : "-", dec->rule_text ? dec->rule_text : "",
                   dec->measured ? "; measured " : "", dec->measured ? dec->measured : "");
}

/* Whether st is a verify check (not the step that says the plan has none). */
static int is_check(const struct store_step *st)
{
    return st->phase == DEPLOY_VERIFY && !(st->status == STEP_SKIPPED && !st->service &&
                                           st->action && !strcmp(st->action, "skip"));
}

/* The testcase of a phase that has rows in t, and those of its checks. */
static void phase_cases(const struct timeline *t, size_t head, struct suite *s)
{
    const struct store_record *d = t->d;
    const struct timeline_row *h = &t->rows[head];
    struct testcase *c = add_case(s, deploy_state_name(h->phase), deploy_state_name(h->phase));
    int ran = 0;

    c->seconds = h->t1 - h->t0;
    for (size_t i = head + 1; i < t->nrows && t->rows[i].step; i++) {
        const struct store_step *st = t->rows[i].step;
        ran |= st->status != STEP_SKIPPED;
        if (st->status == STEP_FAILED || stopped(d, st))
            fail_case(d, c, st);
    }
    if (!ran) {
        c->kind = "skipped";
        c->message = t->rows[head + 1].step->detail ? t->rows[head + 1].step->detail : "skipped";
    }
    for (size_t i = head + 1; i < t->nrows && t->rows[i].step; i++) {
        const struct store_step *st = t->rows[i].step;
        if (!is_check(st))
            continue;
        struct testcase *k = add_case(s, "verify", st->action ? st->action : "?");
        k->seconds = t->rows[i].t1 - t->rows[i].t0;
        if (st->status == STEP_FAILED || stopped(d, st)) {
            fail_case(d, k, st);
            if (d->decision)
                describe_decision(d->decision, st->action, &k->body);
        } else if (st->status == STEP_SKIPPED) {
            k->kind = "skipped";
            k->message = st->detail ? st->detail : "skipped";
        }
    }
}

/* Why phase p has no step; the failure's phase goes to body. */
static const char *not_run(const struct timeline *t, enum deploy_state p, struct buf *body)
{
    if (t->failed && p > t->failed->phase) {
        buf_printf(body, "the deployment failed in %s", deploy_state_name(t->failed->phase));
        return "not reached: the deployment failed before this phase";
    }
    if (t->d->status == DEPLOY_RUNNING)
        return "not reached yet: the deployment is running";
    return "no step recorded in this phase";
}

/* The testcases: the phases in the order they ran, then those never reached. */
static void build_suite(const struct timeline *t, struct suite *s)
{
    int seen[DEPLOY_NSTATES] = {0};
    for (size_t i = 0; i < t->nrows; i++) {
        if (t->rows[i].step)
            continue;
        seen[t->rows[i].phase] = 1;
        phase_cases(t, i, s);
    }
    for (int p = DEPLOY_LOCKED; p <= DEPLOY_VERIFY; p++) {
        if (seen[p] || t->d->status == DEPLOY_SUCCEEDED)
            continue;
        struct testcase *c = add_case(s, deploy_state_name(p), deploy_state_name(p));
        c->kind = "skipped";
        c->message = not_run(t, (enum deploy_state)p, &c->body);
    }
    for (size_t i = 0; i < s->n; i++) {
        const char *k = s->cases[i].kind;
        s->failures += k && !strcmp(k, "failure");
        s->errors += k && !strcmp(k, "error");
        s->skipped += k && !strcmp(k, "skipped");
    }
}

static void property(FILE *out, const char *name, const char *value)
{
    if (!value)
        return;
    fprintf(out, "      <property name=\"%s\" value=\"", name);
    markup_attr(out, value);
    fprintf(out, "\"/>\n");
}

static void write_case(const struct testcase *c, FILE *out)
{
    fprintf(out, "    <testcase classname=\"");
    markup_attr(out, c->classname);
    fprintf(out, "\" name=\"");
    markup_attr(out, c->name);
    fprintf(out, "\" time=\"%.3f\"", c->seconds);
    if (!c->kind) {
        fprintf(out, "/>\n");
        return;
    }
    char *first_line = xstrndup(c->message, strcspn(c->message, "\n"));
    fprintf(out, ">\n      <%s message=\"", c->kind);
    markup_attr(out, first_line);
    free(first_line);
    fprintf(out, "\"");
    if (strcmp(c->kind, "skipped"))
        fprintf(out, " type=\"%s\"", c->classname);
    fprintf(out, ">");
    markup_text(out, c->body.data);
    fprintf(out, "</%s>\n    </testcase>\n", c->kind);
}

void report_junit(const struct store_record *d, FILE *out)
{
    struct timeline t;
    struct suite s = {0};
    char stamp[32] = "";
    struct buf name = {0};

    timeline_build(d, &t);
    s.cases = xcalloc(2 * d->nsteps + DEPLOY_NSTATES, sizeof(*s.cases));
    build_suite(&t, &s);
    if (!isnan(d->started_at)) {
        time_t secs = (time_t)d->started_at;
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    }
    buf_printf(&name, "ttdeploy %s deployment %lld (%s)", d->d.project ? d->d.project : "?", d->id,
               d->d.version ? d->d.version : "-");
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(out,
            "<testsuites name=\"ttdeploy\" tests=\"%zu\" failures=\"%d\" errors=\"%d\" "
            "skipped=\"%d\" time=\"%.3f\">\n",
            s.n, s.failures, s.errors, s.skipped, t.span);
    fprintf(out, "  <testsuite name=\"");
    markup_attr(out, name.data);
    fprintf(out,
            "\" tests=\"%zu\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\" "
            "id=\"%lld\"",
            s.n, s.failures, s.errors, s.skipped, t.span, d->id);
    if (stamp[0])
        fprintf(out, " timestamp=\"%s\"", stamp);
    fprintf(out, ">\n    <properties>\n");
    property(out, "project", d->d.project);
    property(out, "version", d->d.version);
    property(out, "status", deploy_state_name(d->status));
    property(out, "actor", d->d.actor);
    property(out, "git_tag", d->d.git_tag);
    property(out, "git_commit", d->d.git_commit);
    property(out, "error", d->error);
    fprintf(out, "    </properties>\n");
    for (size_t i = 0; i < s.n; i++) {
        write_case(&s.cases[i], out);
        buf_release(&s.cases[i].body);
    }
    fprintf(out, "  </testsuite>\n</testsuites>\n");
    free(s.cases);
    buf_release(&name);
    timeline_clear(&t);
}
