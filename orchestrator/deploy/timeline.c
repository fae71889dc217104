/*
 * timeline.c - `ttdeploy timeline`: a recorded deployment as a Gantt
 * chart.  timeline_build() turns the steps of the record into rows (see
 * timeline.h); this file also draws them as text for a terminal and as a
 * Mermaid `gantt` for GitHub and GitLab; timeline_svg.c draws the SVG.
 *
 * Mermaid: times are unix milliseconds (`dateFormat x`), one section per
 * phase, one task per step named "SEQ SERVICE ACTION" (a leading number
 * cannot be read as a keyword such as `title` or `section`), a milestone
 * for the failure.  Its parser splits on ':' and ';' and takes '#' for a
 * comment, so those, '%' and newlines are written as its entity codes
 * (#58; and so on), which it decodes when it renders.
 */
#include "deploy.h"
#include "buf.h"
#include "timeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const outcome_names[TIMELINE_NOUTCOMES] = {
    [TIMELINE_OK] = "ok",
    [TIMELINE_ROLLBACK] = "rolled back",
    [TIMELINE_SKIPPED] = "skipped",
    [TIMELINE_RUNNING] = "running",
    [TIMELINE_INTERRUPTED] = "interrupted",
    [TIMELINE_FAILED] = "failed",
};

const char *timeline_outcome_name(enum timeline_outcome o)
{
    return o < TIMELINE_NOUTCOMES ? outcome_names[o] : "?";
}

const struct store_step *timeline_failed_step(const struct store_record *d)
{
    for (size_t i = 0; i < d->nsteps; i++) {
        const struct store_step *s = &d->steps[i];
        if ((s->status == STEP_FAILED || s->status == STEP_INTERRUPTED) &&
            s->phase != DEPLOY_ROLLING_BACK)
            return s;
    }
    return NULL;
}

static enum timeline_outcome step_outcome(const struct store_step *s)
{
    switch (s->status) {
    case STEP_OK:
        return s->phase == DEPLOY_ROLLING_BACK ? TIMELINE_ROLLBACK : TIMELINE_OK;
    case STEP_FAILED:
        return TIMELINE_FAILED;
    case STEP_SKIPPED:
        return TIMELINE_SKIPPED;
    case STEP_INTERRUPTED:
        return TIMELINE_INTERRUPTED;
    default:
        return TIMELINE_RUNNING;
    }
}

/* The last time the record knows: its end, else the latest start or end of a step. */
static double last_known(const struct store_record *d)
{
    double last = d->started_at;
    if (!isnan(d->finished_at))
        return d->finished_at;
    for (size_t i = 0; i < d->nsteps; i++) {
        if (isnan(last) || d->steps[i].started_at > last)
            last = d->steps[i].started_at;
        if (!isnan(d->steps[i].finished_at) && d->steps[i].finished_at > last)
            last = d->steps[i].finished_at;
    }
    return last;
}

/* An axis step that gives at most about ten ticks over span seconds. */
static double nice_tick(double span)
{
    static const double steps[] = {0.1, 0.2, 0.5, 1,   2,   5,    10,   15,   30,
                                   60,  120, 300, 600, 900, 1800, 3600, 7200, 21600};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (span / steps[i] <= 10)
            return steps[i];
    return ceil(span / 10 / 3600) * 3600;
}

/* Appends the step rows of phase p, after its own row, which spans them. */
static void add_phase(struct timeline *t, enum deploy_state p, double end_of_running)
{
    struct timeline_row *head = &t->rows[t->nrows++];
    *head = (struct timeline_row){.phase = p, .t0 = INFINITY, .t1 = 0, .outcome = TIMELINE_SKIPPED};
    int all_skipped = 1;
    for (size_t i = 0; i < t->d->nsteps; i++) {
        const struct store_step *s = &t->d->steps[i];
        if (s->phase != p)
            continue;
        double t0 = fmax(0, s->started_at - t->origin);
        double end = isnan(s->finished_at) ? end_of_running : s->finished_at;
        double t1 = fmax(t0, end - t->origin);
        enum timeline_outcome o = step_outcome(s);
        t->rows[t->nrows++] = (struct timeline_row){p, s, t0, t1, o};
        head->t0 = fmin(head->t0, t0);
        head->t1 = fmax(head->t1, t1);
        if (o != TIMELINE_SKIPPED) {
            /* the worst outcome wins; outcomes are declared from best to worst */
            head->outcome = all_skipped || o > head->outcome ? o : head->outcome;
            all_skipped = 0;
        }
    }
}

void timeline_build(const struct store_record *d, struct timeline *t)
{
    int seen[DEPLOY_NSTATES] = {0};
    double last = last_known(d);

    *t = (struct timeline){.d = d, .failed_at = NAN};
    t->origin = !isnan(d->started_at) ? d->started_at : d->nsteps ? d->steps[0].started_at : 0;
    t->rows = xcalloc(2 * d->nsteps + 1, sizeof(*t->rows));
    t->nsteps = d->nsteps;
    for (size_t i = 0; i < d->nsteps; i++) {
        enum deploy_state p = d->steps[i].phase;
        if (p < DEPLOY_NSTATES && !seen[p]++)
            add_phase(t, p, last);
    }
    t->span = fmax(isnan(last) ? 0 : last - t->origin, 0);
    for (size_t i = 0; i < t->nrows; i++)
        t->span = fmax(t->span, t->rows[i].t1);
    if (t->span <= 0)
        t->span = 1;
    t->tick = nice_tick(t->span);
    t->failed = timeline_failed_step(d);
    if (t->failed) {
        double end = isnan(t->failed->finished_at) ? last : t->failed->finished_at;
        t->failed_at = fmin(t->span, fmax(0, end - t->origin));
    }
}

void timeline_clear(struct timeline *t)
{
    free(t->rows);
    t->rows = NULL;
    t->nrows = 0;
}

void timeline_row_label(const struct timeline_row *r, struct buf *out)
{
    if (!r->step) {
        buf_adds(out, deploy_state_name(r->phase));
        return;
    }
    if (r->step->service)
        buf_printf(out, "%s ", r->step->service);
    buf_adds(out, r->step->action ? r->step->action : "?");
}

void timeline_title(const struct timeline *t, struct buf *out)
{
    const struct store_record *d = t->d;
    buf_printf(out, "Deployment %lld of %s (%s): %s, %.1f s", d->id,
               d->d.project ? d->d.project : "?", d->d.version ? d->d.version : "-",
               deploy_state_name(d->status), t->span);
}

/* ---- text ----------------------------------------------------------------- */

#define TEXT_BAR_COLS 60
#define TEXT_LABEL_MAX 36

static const char text_marks[TIMELINE_NOUTCOMES] = {
    [TIMELINE_OK] = '#',      [TIMELINE_ROLLBACK] = 'R',    [TIMELINE_SKIPPED] = '-',
    [TIMELINE_RUNNING] = '~', [TIMELINE_INTERRUPTED] = '!', [TIMELINE_FAILED] = 'X',
};

/* Characters (not bytes) of UTF-8 s. */
static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Writes s padded to width characters, or cut to width - 1 and '~'. */
static void text_cell(FILE *out, const char *s, size_t width)
{
    size_t n = text_width(s), shown = n > width ? width - 1 : n, k = 0;
    for (const char *p = s; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80 && k++ == shown)
            break;
        fputc(*p, out);
    }
    if (n > width)
        fputc('~', out);
    for (size_t i = n > width ? width : n; i < width; i++)
        fputc(' ', out);
}

static size_t text_col(const struct timeline *t, double x)
{
    size_t c = (size_t)floor(x / t->span * TEXT_BAR_COLS);
    return c >= TEXT_BAR_COLS ? TEXT_BAR_COLS - 1 : c;
}

static void text_axis(const struct timeline *t, FILE *out, size_t label_w)
{
    char line[TEXT_BAR_COLS + 16];
    memset(line, ' ', sizeof(line) - 1);
    line[sizeof(line) - 1] = 0;
    for (int k = 0; k * t->tick <= t->span + 1e-9; k++) {
        double x = k * t->tick;
        char tick[16];
        size_t c = text_col(t, x), n = (size_t)snprintf(tick, sizeof(tick), "%gs", x);
        if (c + n < sizeof(line) - 1 && (c == 0 || line[c - 1] == ' '))
            memcpy(line + c, tick, n);
    }
    fprintf(out, "%*s  %s\n", (int)label_w, "", line);
}

static void text_print(const struct timeline *t, FILE *out)
{
    struct buf b = {0};
    size_t label_w = 5;
    size_t fail_col = t->failed ? text_col(t, t->failed_at) : TEXT_BAR_COLS;

    for (size_t i = 0; i < t->nrows; i++) {
        buf_reset(&b);
        timeline_row_label(&t->rows[i], &b);
        size_t w = text_width(b.data) + (t->rows[i].step ? 2 : 0);
        label_w = w > label_w ? w : label_w;
    }
    label_w = label_w > TEXT_LABEL_MAX ? TEXT_LABEL_MAX : label_w;
    buf_reset(&b);
    timeline_title(t, &b);
    fprintf(out, "%s\n", b.data);
    for (int o = 0; o < TIMELINE_NOUTCOMES; o++)
        fprintf(out, "%s%c %s", o ? "  " : "", text_marks[o], outcome_names[o]);
    if (t->failed)
        fprintf(out, "  | failure at %.1f s", t->failed_at);
    fputc('\n', out);
    text_axis(t, out, label_w);
    for (size_t i = 0; i < t->nrows; i++) {
        const struct timeline_row *r = &t->rows[i];
        char bar[TEXT_BAR_COLS + 1];
        memset(bar, ' ', TEXT_BAR_COLS);
        bar[TEXT_BAR_COLS] = 0;
        if (fail_col < TEXT_BAR_COLS)
            bar[fail_col] = '|';
        /* the columns the bar covers: [t0, t1), at least one */
        size_t c0 = text_col(t, r->t0), c1 = (size_t)ceil(r->t1 / t->span * TEXT_BAR_COLS);
        for (size_t c = c0; c < c1 && c < TEXT_BAR_COLS; c++)
            bar[c] = text_marks[r->outcome];
        bar[c0] = text_marks[r->outcome];
        buf_reset(&b);
        if (r->step)
            buf_adds(&b, "  ");
        timeline_row_label(r, &b);
        text_cell(out, b.data, label_w);
        fprintf(out, "  %s  %s %.2fs\n", bar, outcome_names[r->outcome], r->t1 - r->t0);
    }
    buf_release(&b);
}

/* ---- Mermaid -------------------------------------------------------------- */

/* Writes s for a Mermaid name: the characters its parser takes apart as entity codes. */
static void mermaid_text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (strchr(":;#%", *s))
            fprintf(out, "#%d;", (unsigned char)*s);
        else if (*s == '\n' || *s == '\r' || *s == '\t')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

/* Mermaid's styles for an outcome: done, crit, active, or none. */
static const char *mermaid_tags(enum timeline_outcome o)
{
    switch (o) {
    case TIMELINE_OK:
        return "done, ";
    case TIMELINE_FAILED:
        return "crit, ";
    case TIMELINE_INTERRUPTED:
        return "crit, active, ";
    case TIMELINE_RUNNING:
    case TIMELINE_ROLLBACK:
        return "active, ";
    default:
        return "";
    }
}

/* Milliseconds since the epoch of a time on the chart. */
static long long mermaid_ms(const struct timeline *t, double x)
{
    return llround((t->origin + x) * 1000);
}

static void mermaid_failure(const struct timeline *t, FILE *out)
{
    struct buf b = {0};
    buf_printf(&b, "failed at %.1f s: %s", t->failed_at, deploy_state_name(t->failed->phase));
    if (t->failed->service)
        buf_printf(&b, " %s", t->failed->service);
    buf_printf(&b, " %s", t->failed->action ? t->failed->action : "");
    fprintf(out, "    section failure\n    ");
    mermaid_text(out, b.data);
    fprintf(out, " :crit, milestone, failure, %lld, %lld\n", mermaid_ms(t, t->failed_at),
            mermaid_ms(t, t->failed_at) + 1);
    buf_release(&b);
}

static void mermaid_print(const struct timeline *t, FILE *out)
{
    struct buf b = {0};
    int marked = !t->failed;
    long long tick_ms = llround(t->tick * 1000);

    timeline_title(t, &b);
    fprintf(out, "gantt\n    title ");
    mermaid_text(out, b.data);
    fprintf(out, "\n    dateFormat x\n    axisFormat %%H:%%M:%%S\n");
    if (tick_ms % 1000 == 0)
        fprintf(out, "    tickInterval %lldsecond\n", tick_ms / 1000);
    else
        fprintf(out, "    tickInterval %lldmillisecond\n", tick_ms);
    for (size_t i = 0; i < t->nrows; i++) {
        const struct timeline_row *r = &t->rows[i];
        if (!r->step) {
            if (!marked && (r->phase == DEPLOY_DECIDING || r->phase == DEPLOY_ROLLING_BACK)) {
                mermaid_failure(t, out);
                marked = 1;
            }
            fprintf(out, "    section %s\n", deploy_state_name(r->phase));
            continue;
        }
        buf_reset(&b);
        buf_printf(&b, "%lld ", r->step->seq);
        timeline_row_label(r, &b);
        fprintf(out, "    ");
        mermaid_text(out, b.data);
        long long t0 = mermaid_ms(t, r->t0), t1 = mermaid_ms(t, r->t1);
        fprintf(out, " :%ss%lld, %lld, %lld\n", mermaid_tags(r->outcome), r->step->seq, t0,
                t1 > t0 ? t1 : t0 + 1);
    }
    if (!marked)
        mermaid_failure(t, out);
    buf_release(&b);
}

void timeline_print(const struct store_record *d, enum timeline_format f, FILE *out)
{
    struct timeline t;
    timeline_build(d, &t);
    if (f == TIMELINE_SVG)
        timeline_svg(&t, out);
    else if (f == TIMELINE_MERMAID)
        mermaid_print(&t, out);
    else
        text_print(&t, out);
    timeline_clear(&t);
}
