/*
 * test_timeline.c - the pictures of a recorded deployment (timeline SVG,
 * Mermaid, text) and the JUnit and HTML reports, from a hand-built record:
 * a deployment that failed verify and rolled back, with names that hold
 * markup.  The XML is parsed by python3's xml.etree (a real parser).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"
#include "store.h"
#include "testutil.h"

/* Steps of deployment 7 of tt: started at 1000, failed verify at 1026, rolled back by 1030. */
static struct store_step steps[] = {
    {1, DEPLOY_LOCKED, NULL, "baseline", "measure", STEP_OK, 1000.0, 1000.5, "p95 4 ms", NULL},
    {2, DEPLOY_BACKUP, NULL, "skip", "no backup", STEP_SKIPPED, 1000.5, 1000.5, "no backup", NULL},
    {3, DEPLOY_APP_UP, "a<b&\"c\"", "recreate", NULL, STEP_OK, 1010.0, 1011.0, NULL, NULL},
    {4, DEPLOY_APP_HEALTHY, "a<b&\"c\"", "wait", NULL, STEP_OK, 1010.0, 1020.0, NULL, NULL},
    {5, DEPLOY_APP_UP, "db:main;#1%", "recreate", NULL, STEP_OK, 1011.0, 1011.0, NULL, NULL},
    {6, DEPLOY_VERIFY, NULL, "api-health", "GET /health", STEP_FAILED, 1020.0, 1026.0,
     "20 probes: 10 failed", "api-health: error rate 50% > 5% <script>"},
    {7, DEPLOY_DECIDING, NULL, "images", "rule 2", STEP_OK, 1026.0, 1026.0, NULL, NULL},
    {8, DEPLOY_ROLLING_BACK, "a<b&\"c\"", "recreate", NULL, STEP_OK, 1026.5, 1028.0, NULL, NULL},
    {9, DEPLOY_ROLLING_BACK, NULL, "images", NULL, STEP_OK, 1026.5, 1030.0, NULL, NULL},
};

static const char *actions[] = {"images"};
static struct store_decision decision = {
    .failure = {.phase = "verify",
                .check = "api-health",
                .error_rate = 0.5,
                .p95_ms = 12.5,
                .p95_before_ms = 4.0},
    .rule = 2,
    .rule_text = "phase verify, check api-health, error_rate > 5% -> images",
    .severity = "critical",
    .measured = "error_rate 50.0% > 5.0%",
    .actions = actions,
    .nactions = 1,
};

static struct store_record record(void)
{
    return (struct store_record){
        .id = 7,
        .d = {.project = "tt", .version = "v2&<3>", .actor = "ci"},
        .status = DEPLOY_ROLLED_BACK,
        .started_at = 1000.0,
        .finished_at = 1030.0,
        .recovered_seconds = NAN,
        .decision = &decision,
        .steps = steps,
        .nsteps = sizeof(steps) / sizeof(steps[0]),
    };
}

/* Everything written to f since it was made, as a string the caller frees; closes f. */
static char *contents(FILE *f)
{
    long n = ftell(f);
    char *text = xcalloc(1, (size_t)n + 1);
    rewind(f);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

/* The picture of r in format f. */
static char *capture_timeline(const struct store_record *r, enum timeline_format f)
{
    FILE *out = tmpfile();
    timeline_print(r, f, out);
    return contents(out);
}

static char *capture_junit(const struct store_record *r)
{
    FILE *out = tmpfile();
    report_junit(r, out);
    return contents(out);
}

/* Runs python3 script over a file holding text; its exit status (0: the assertions held). */
static int python_over(const char *script, const char *text)
{
    char *dir = tu_tmpdir();
    char *doc = tu_write(dir, "doc.xml", text), *py = tu_write(dir, "check.py", script);
    struct buf cmd = {0};
    buf_printf(&cmd, "python3 %s %s; rc=$?; rm -rf %s; exit $rc", py, doc, dir);
    int rc = system(cmd.data);
    buf_release(&cmd);
    free(doc);
    free(py);
    free(dir);
    return rc;
}

/* The number after attr=" in the first element of s from where. */
static double attr_after(const char *s, const char *where, const char *attr)
{
    const char *p = strstr(s, where);
    cr_assert(p, "no %s in:\n%s", where, s);
    struct buf key = {0};
    buf_printf(&key, " %s=\"", attr);
    const char *v = strstr(p, key.data);
    cr_assert(v, "no %s after %s", attr, where);
    double x = strtod(v + key.len, NULL);
    buf_release(&key);
    return x;
}

Test(timeline, svg_parses_as_xml_and_escapes_names)
{
    struct store_record r = record();
    char *svg = capture_timeline(&r, TIMELINE_SVG);
    cr_assert_eq(
        python_over("import sys, xml.etree.ElementTree as E\n"
                    "root = E.parse(sys.argv[1]).getroot()\n"
                    "assert root.tag == '{http://www.w3.org/2000/svg}svg', root.tag\n"
                    "texts = [t.text for t in root.iter('{http://www.w3.org/2000/svg}text')]\n"
                    "assert 'a<b&\"c\" recreate' in texts, texts\n",
                    svg),
        0, "%s", svg);
    cr_assert(strstr(svg, "a&lt;b&amp;&quot;c&quot;"), "%s", svg);
    cr_assert(!strstr(svg, "<script>") && strstr(svg, "&lt;script&gt;"), "%s", svg);
    cr_assert(strstr(svg, "v2&amp;&lt;3&gt;"), "the title is escaped too");
    cr_assert(strstr(svg, ">ok<") && strstr(svg, ">failed<") && strstr(svg, ">rolled back<"),
              "the legend names the outcomes");
    free(svg);
}

Test(timeline, rows_are_phases_in_order_with_their_steps_under_them)
{
    struct store_record r = record();
    char *text = capture_timeline(&r, TIMELINE_TEXT);
    /* app_up's two steps sit under it although app_healthy's began in between */
    const char *order[] = {"\nlocked ",
                           "\n  baseline ",
                           "\nbackup ",
                           "\n  skip ",
                           "\napp_up ",
                           "\n  a<b&\"c\" recreate ",
                           "\n  db:main;#1% recreate ",
                           "\napp_healthy ",
                           "\n  a<b&\"c\" wait ",
                           "\nverify ",
                           "\n  api-health ",
                           "\ndeciding ",
                           "\nrolling_back ",
                           "\n  a<b&\"c\" recreate ",
                           "\n  images "};
    const char *at = text;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const char *next = strstr(at, order[i]);
        cr_assert(next, "row %zu \"%s\" missing or out of order:\n%s", i, order[i], text);
        at = next + 1;
    }
    /* the bars are in the same columns on every row: their outcomes line up after them */
    const char *row = strstr(text, "\nlocked ") + 1, *row2 = strstr(text, "\n  api-health ") + 1;
    cr_assert_eq(strstr(row, "  ok 0.50s") - row, strstr(row2, "  failed 6.00s") - row2, "%s",
                 text);
    cr_assert(strstr(row2, " XXXXXXXXXXXX| "),
              "6 s of 30 is 12 of 60 columns, the marker after: %s", row2);
    cr_assert(strstr(text, "| failure at 26.0 s"), "%s", text);
    free(text);
}

Test(timeline, failure_marker_is_at_the_failed_steps_end_and_rollback_after_it)
{
    struct store_record r = record();
    char *svg = capture_timeline(&r, TIMELINE_SVG);
    double x0 = attr_after(svg, "<line x1=", "x1"); /* the axis' first tick: 0 s */
    double marker = attr_after(svg, "<g class=\"failure\">", "x1");
    /* the failed bar: verify api-health, from 20 s to 26 s */
    const char *failed = strstr(svg, "fill=\"#e03131\"");
    cr_assert(failed, "no bar in the failed colour");
    while (strncmp(failed, "<rect", 5))
        failed--;
    double fx = attr_after(failed, "<rect", "x"), fw = attr_after(failed, "<rect", "width");
    cr_assert_float_eq(fx + fw, marker, 0.02, "the marker (%.2f) ends the failed bar (%.2f)",
                       marker, fx + fw);
    cr_assert_float_eq((marker - x0) / (fx + fw - x0), 1.0, 1e-3);
    cr_assert(strstr(svg, "failed at 26.0 s: verify api-health"), "the marker is labelled");
    /* the rollback's bars begin after the marker */
    const char *rb = strstr(svg, "fill=\"#7048e8\">");
    cr_assert(rb);
    while (strncmp(rb, "<rect", 5))
        rb--;
    cr_assert_gt(attr_after(rb, "<rect", "x"), marker);
    free(svg);
}

Test(timeline, an_instant_step_still_gets_a_visible_bar)
{
    struct store_record r = record();
    char *svg = capture_timeline(&r, TIMELINE_SVG);
    const char *title = strstr(svg, "<title>5. app_up db:main;#1% recreate");
    cr_assert(title, "%s", svg);
    while (strncmp(title, "<rect", 5))
        title--;
    cr_assert_float_eq(attr_after(title, "<rect", "width"), 3.0, 1e-9);
    free(svg);
}

Test(timeline, mermaid_escapes_names_and_has_a_section_per_phase)
{
    struct store_record r = record();
    char *m = capture_timeline(&r, TIMELINE_MERMAID);
    cr_assert(!strncmp(m, "gantt\n", 6), "%s", m);
    cr_assert(strstr(m, "\n    dateFormat x\n"), "%s", m);
    cr_assert(strstr(m, "\n    section app_up\n"), "%s", m);
    cr_assert(strstr(m, "\n    5 db#58;main#59;#35;1#37; recreate :done, s5, 1011000, 1011001\n"),
              "%s", m);
    cr_assert(strstr(m, "\n    6 api-health :crit, s6, 1020000, 1026000\n"), "%s", m);
    /* the failure milestone comes before the decision and the rollback */
    const char *fail = strstr(m, "section failure\n    failed at 26.0 s#58; verify api-health");
    cr_assert(fail && fail < strstr(m, "section deciding"), "%s", m);
    /* nothing but the separator after a name holds a ':' */
    for (const char *line = strstr(m, "\n    1 "); line; line = strchr(line + 1, '\n')) {
        const char *end = strchr(line + 1, '\n');
        const char *colon = memchr(line + 1, ':', end ? (size_t)(end - line) : strlen(line));
        if (colon)
            cr_assert_eq(strchr(colon + 1, ':') && (!end || strchr(colon + 1, ':') < end), 0,
                         "two colons in %.*s", (int)(end - line), line);
    }
    free(m);
}

Test(report, junit_counts_match_its_testcases)
{
    struct store_record r = record();
    char *x = capture_junit(&r);
    cr_assert_eq(
        python_over(
            "import sys, xml.etree.ElementTree as E\n"
            "root = E.parse(sys.argv[1]).getroot()\n"
            "assert root.tag == 'testsuites', root.tag\n"
            "suites = root.findall('testsuite')\n"
            "assert len(suites) == 1\n"
            "s = suites[0]\n"
            "cases = s.findall('testcase')\n"
            "n = lambda tag: sum(1 for c in cases if c.find(tag) is not None)\n"
            "for e in (root, s):\n"
            "    assert int(e.get('tests')) == len(cases), (e.attrib, len(cases))\n"
            "    assert int(e.get('failures')) == n('failure'), e.attrib\n"
            "    assert int(e.get('errors')) == n('error'), e.attrib\n"
            "    assert int(e.get('skipped')) == n('skipped'), e.attrib\n"
            "    float(e.get('time'))\n"
            "names = [(c.get('classname'), c.get('name')) for c in cases]\n"
            "assert names == [('locked', 'locked'), ('backup', 'backup'), ('app_up', 'app_up'),\n"
            "    ('app_healthy', 'app_healthy'), ('verify', 'verify'), ('verify', 'api-health'),\n"
            "    ('deciding', 'deciding'), ('rolling_back', 'rolling_back'),\n"
            "    ('preflight', 'preflight'), ('migrate', 'migrate'), ('infra_up', 'infra_up'),\n"
            "    ('infra_healthy', 'infra_healthy')], names\n"
            "none = [c for c in cases if c.get('name') == 'migrate'][0].find('skipped')\n"
            "assert none.get('message') == 'no step recorded in this phase', none.attrib\n"
            "check = [c for c in cases if c.get('name') == 'api-health'][0]\n"
            "f = check.find('failure')\n"
            "assert 'error rate 50% > 5% <script>' in f.get('message'), f.attrib\n"
            "assert 'error rate: 50.0%' in f.text and 'p95: 12.5 ms' in f.text, f.text\n"
            "assert 'p95 before: 4.0 ms' in f.text and 'rule 2' in f.text, f.text\n"
            "assert float(check.get('time')) == 6.0, check.attrib\n"
            "assert n('failure') == 2 and n('skipped') == 5 and n('error') == 0, names\n"
            "for c in cases:\n"
            "    for k in c:\n"
            "        assert k.tag in ('failure', 'skipped', 'error'), k.tag\n",
            x),
        0, "%s", x);
    free(x);
}

Test(report, junit_of_a_succeeded_deployment_has_no_failure)
{
    struct store_step ok[] = {
        {1, DEPLOY_LOCKED, NULL, "baseline", NULL, STEP_OK, 1000.0, 1001.0, NULL, NULL},
        {2, DEPLOY_VERIFY, "nginx", "home", NULL, STEP_OK, 1001.0, 1002.5, NULL, NULL},
    };
    struct store_record r = record();
    r.status = DEPLOY_SUCCEEDED;
    r.decision = NULL;
    r.steps = ok;
    r.nsteps = 2;
    char *x = capture_junit(&r);
    cr_assert(strstr(x, "<testsuites name=\"ttdeploy\" tests=\"3\" failures=\"0\" errors=\"0\" "
                        "skipped=\"0\""),
              "%s", x);
    cr_assert(strstr(x, "<testcase classname=\"verify\" name=\"home\" time=\"1.500\"/>"), "%s", x);
    free(x);
}

Test(report, html_is_the_report_with_the_timeline_inline)
{
    struct store_record r = record();
    json_t *rep = report_new(&r);
    FILE *out = tmpfile();
    report_html(&r, rep, out);
    char *html = contents(out);
    cr_assert(!strncmp(html, "<!DOCTYPE html>", 15), "%s", html);
    cr_assert(strstr(html, "<h1>Incident report: deployment 7 of tt (v2&amp;&lt;3&gt;)</h1>"), "%s",
              html);
    cr_assert(strstr(html, "<li><strong>Error</strong>: api-health: error rate 50% &gt; 5% "
                           "&lt;script&gt;</li>"),
              "%s", html);
    cr_assert(strstr(html, "<h2>Timeline</h2>\n<svg xmlns="), "%s", html);
    cr_assert(!strstr(html, "<script>"), "%s", html);
    /* the body between <body> and </body> parses as XML (no stray markup) */
    const char *b0 = strstr(html, "<body>"), *b1 = strstr(html, "</body>");
    char *body = strndup(b0, (size_t)(b1 - b0) + 7);
    cr_assert_eq(
        python_over("import sys, xml.etree.ElementTree as E\nE.parse(sys.argv[1])\n", body), 0,
        "%s", body);
    free(body);
    free(html);
    json_decref(rep);
}
