/*
 * timeline_svg.c - the timeline as a standalone SVG document: a title, the
 * failure's label, an axis in seconds with grid lines, then one row per
 * phase (a band, its name in bold, a pale bar over its steps) and one row
 * per step under it (indented name, a solid bar coloured by outcome, the
 * outcome and duration at the right), the failure marker (a dashed line at
 * the failure's time) and a legend.
 *
 * Layout: a fixed monospace font at 12 px (about 7.3 px a character), so
 * the label column is as wide as the longest name (cut at 40 bytes); the
 * plot is 600 px wide and grows 24 px a step beyond 10 steps, up to 1400
 * px; a step shorter than a pixel still gets a 3 px bar.  Every text is
 * escaped (markup.h); each bar carries a <title> with the step's intent,
 * detail and error, which browsers show as a tooltip.
 */
#include "buf.h"
#include "markup.h"
#include "timeline.h"
#include "utf8.h"

#include <math.h>
#include <string.h>

#define FONT_PX 12
#define CHAR_PX 7.3
#define LABEL_MAX_BYTES 40
#define ROW_PX 20
#define BAR_PX 14
#define MIN_BAR_PX 3
#define MARGIN_PX 12
#define PLOT_TOP_PX 66
#define RIGHT_COL_PX 150

/* The fill of each outcome (the legend's order). */
static const char *const colours[TIMELINE_NOUTCOMES] = {
    [TIMELINE_OK] = "#2f9e44",          [TIMELINE_ROLLBACK] = "#7048e8",
    [TIMELINE_SKIPPED] = "#adb5bd",     [TIMELINE_RUNNING] = "#1c7ed6",
    [TIMELINE_INTERRUPTED] = "#f08c00", [TIMELINE_FAILED] = "#e03131",
};
#define MARKER_COLOUR "#862e9c"

/* Where the plot is. */
struct frame {
    double label_w; /* the label column */
    double x0, w;   /* the plot's left edge and width */
    double width, height, bottom;
};

static double x_of(const struct timeline *t, const struct frame *f, double sec)
{
    return f->x0 + sec / t->span * f->w;
}

/* The row's label, cut to LABEL_MAX_BYTES on a character boundary. */
static void row_label(const struct timeline_row *r, struct buf *b)
{
    buf_reset(b);
    timeline_row_label(r, b);
    utf8_cut(b, LABEL_MAX_BYTES, "\xE2\x80\xA6");
}

static void layout(const struct timeline *t, struct frame *f)
{
    struct buf b = {0};
    size_t chars = 12;
    for (size_t i = 0; i < t->nrows; i++) {
        row_label(&t->rows[i], &b);
        size_t n = 0;
        for (const char *p = b.data; *p; p++)
            n += ((unsigned char)*p & 0xC0) != 0x80;
        n += t->rows[i].step ? 2 : 0;
        chars = n > chars ? n : chars;
    }
    buf_release(&b);
    f->label_w = MARGIN_PX + chars * CHAR_PX;
    f->x0 = f->label_w + MARGIN_PX;
    f->w = fmin(1400, fmax(600, 360 + 24.0 * t->nsteps));
    f->width = f->x0 + f->w + MARGIN_PX + RIGHT_COL_PX;
    f->bottom = PLOT_TOP_PX + (double)t->nrows * ROW_PX;
    f->height = f->bottom + 48;
}

static void axis(const struct timeline *t, const struct frame *f, FILE *out)
{
    fprintf(out, "<g class=\"axis\" fill=\"#495057\" text-anchor=\"middle\">\n");
    for (int k = 0; k * t->tick <= t->span + 1e-9; k++) {
        double s = k * t->tick, x = x_of(t, f, s);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dee2e6\"/>"
                "<text x=\"%.1f\" y=\"%d\">%gs</text>\n",
                x, PLOT_TOP_PX - 6, x, f->bottom, x, PLOT_TOP_PX - 10, s);
    }
    fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#868e96\"/>\n</g>\n",
            f->x0, PLOT_TOP_PX, f->x0 + f->w, PLOT_TOP_PX);
}

/* The tooltip of a step's bar: what it meant to do and what happened. */
static void bar_title(const struct timeline_row *r, FILE *out)
{
    const struct store_step *s = r->step;
    fprintf(out, "<title>");
    if (s) {
        fprintf(out, "%lld. %s ", s->seq, deploy_state_name(s->phase));
        markup_text(out, s->service);
        fprintf(out, "%s", s->service ? " " : "");
        markup_text(out, s->action);
    } else {
        fprintf(out, "%s", deploy_state_name(r->phase));
    }
    fprintf(out, ": %s, +%.2f s, %.2f s", timeline_outcome_name(r->outcome), r->t0, r->t1 - r->t0);
    if (s && s->intent) {
        fputc('\n', out);
        markup_text(out, s->intent);
    }
    if (s && s->detail) {
        fputc('\n', out);
        markup_text(out, s->detail);
    }
    if (s && s->error) {
        fprintf(out, "\nerror: ");
        markup_text(out, s->error);
    }
    fprintf(out, "</title>");
}

static void row(const struct timeline *t, const struct frame *f, size_t i, struct buf *b, FILE *out)
{
    const struct timeline_row *r = &t->rows[i];
    double y = PLOT_TOP_PX + (double)i * ROW_PX;
    double x = x_of(t, f, r->t0), w = fmax(MIN_BAR_PX, x_of(t, f, r->t1) - x);
    x = fmin(x, f->x0 + f->w - w);

    if (!r->step)
        fprintf(out, "<rect x=\"0\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"#f1f3f5\"/>\n",
                y, f->width, ROW_PX);
    row_label(r, b);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\"%s>", MARGIN_PX + (r->step ? 2 * CHAR_PX : 0), y + 14,
            r->step ? "" : " font-weight=\"bold\"");
    markup_text(out, b->data);
    fprintf(out, "</text>\n");
    fprintf(out,
            "<rect class=\"bar %s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" "
            "fill=\"%s\"%s>",
            r->step ? "step" : "phase", x, y + (ROW_PX - BAR_PX) / 2.0, w, BAR_PX,
            colours[r->outcome], r->step ? "" : " fill-opacity=\"0.45\"");
    bar_title(r, out);
    fprintf(out, "</rect>\n<text x=\"%.1f\" y=\"%.1f\" fill=\"#495057\">%s %.2f s</text>\n",
            f->x0 + f->w + MARGIN_PX, y + 14, timeline_outcome_name(r->outcome), r->t1 - r->t0);
}

static void failure_marker(const struct timeline *t, const struct frame *f, FILE *out)
{
    const struct store_step *s = t->failed;
    double x = x_of(t, f, t->failed_at);
    int left = x > f->x0 + f->w / 2;

    fprintf(out,
            "<g class=\"failure\"><line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%.1f\" "
            "stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\n",
            x, PLOT_TOP_PX - 28, x, f->bottom + 4, MARKER_COLOUR);
    fprintf(out, "<text x=\"%.2f\" y=\"%d\" fill=\"%s\" text-anchor=\"%s\">%s at %.1f s: %s ",
            left ? x - 4 : x + 4, PLOT_TOP_PX - 30, MARKER_COLOUR, left ? "end" : "start",
            s->status == STEP_INTERRUPTED ? "interrupted" : "failed", t->failed_at,
            deploy_state_name(s->phase));
    markup_text(out, s->service);
    fprintf(out, "%s", s->service ? " " : "");
    markup_text(out, s->action);
    fprintf(out, "</text></g>\n");
}

static void legend(const struct frame *f, FILE *out)
{
    double x = MARGIN_PX, y = f->bottom + 22;
    fprintf(out, "<g class=\"legend\">\n");
    for (int o = 0; o < TIMELINE_NOUTCOMES; o++) {
        const char *name = timeline_outcome_name(o);
        fprintf(out,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                x, y - 10, colours[o], x + 16, y, name);
        x += 16 + (strlen(name) + 2) * CHAR_PX;
    }
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2\" stroke-dasharray=\"6 3\"/><text x=\"%.1f\" y=\"%.1f\">failure"
            "</text>\n</g>\n",
            x + 6, y - 12, x + 6, y + 2, MARKER_COLOUR, x + 14, y);
}

void timeline_svg(const struct timeline *t, FILE *out)
{
    struct frame f;
    struct buf b = {0};

    layout(t, &f);
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, "
            "monospace\" font-size=\"%d\">\n",
            ceil(f.width), ceil(f.height), ceil(f.width), ceil(f.height), FONT_PX);
    fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    timeline_title(t, &b);
    fprintf(out, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">", MARGIN_PX);
    markup_text(out, b.data);
    fprintf(out, "</text>\n");
    axis(t, &f, out);
    for (size_t i = 0; i < t->nrows; i++)
        row(t, &f, i, &b, out);
    if (t->failed)
        failure_marker(t, &f, out);
    legend(&f, out);
    fprintf(out, "</svg>\n");
    buf_release(&b);
}
