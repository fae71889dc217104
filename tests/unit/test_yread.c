/*
 * test_yread.c - the typed YAML readers both loaders use: each kind of
 * value, the message each wrong value gets, and key tables (strict for
 * plans, lenient with a warning for compose files).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "yread.h"

static struct ydoc *doc;
static struct tt_err err;
static struct strv warnings;
static struct yread r;

static void teardown(void)
{
    ydoc_free(doc);
    doc = NULL;
    strv_clear(&warnings);
}

TestSuite(yread, .fini = teardown);

/* The value of key in the one-line mapping text, parsed as t.yml. */
static const struct ynode *value(const char *text, const char *key)
{
    ydoc_free(doc);
    doc = ydoc_parse("t.yml", text, strlen(text), 0, &err);
    cr_assert_not_null(doc, "%s", err.msg);
    memset(&r, 0, sizeof(r));
    r.err = &err;
    r.file = "t.yml";
    r.warnings = &warnings;
    return key ? ynode_get(doc->root, key) : doc->root;
}

Test(yread, scalars)
{
    char *s = NULL;
    int b = -1, i = -1;
    long long ns = 0;

    cr_assert_eq(yread_string(&r, value("a: hello", "a"), "a", &s), 0);
    cr_assert_str_eq(s, "hello");
    free(s);
    cr_assert_eq(yread_string(&r, value("a: [x]", "a"), "a", &s), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:4: a must be a single value, not a list");
    cr_assert_eq(yread_string(&r, NULL, "image", &s), -1);
    cr_assert_str_eq(err.msg, "t.yml: image must be a single value, not null");

    cr_assert_eq(yread_bool(&r, value("a: yes", "a"), "a", &b), 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(yread_bool(&r, value("a: FALSE", "a"), "a", &b), 0);
    cr_assert_eq(b, 0);
    cr_assert_eq(yread_bool(&r, value("a: maybe", "a"), "init", &b), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:4: init must be true or false, not \"maybe\"");

    cr_assert_eq(yread_int(&r, value("a: 12", "a"), "a", 0, &i), 0);
    cr_assert_eq(i, 12);
    cr_assert_eq(yread_int(&r, value("a: -1", "a"), "retries", 0, &i), -1);
    cr_assert_str_eq(err.msg,
                     "t.yml:1:4: retries must be a whole number from 0 to 2147483647, not \"-1\"");
    cr_assert_eq(yread_int(&r, value("a: 1", "a"), "keep last", 2, &i), -1);
    cr_assert_str_eq(err.msg,
                     "t.yml:1:4: keep last must be a whole number from 2 to 2147483647, not \"1\"");

    cr_assert_eq(yread_duration(&r, value("a: 1m30s", "a"), "a", &ns), 0);
    cr_assert_eq(ns, 90000000000LL);
    cr_assert_eq(yread_duration(&r, value("a: soon", "a"), "interval", &ns), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:4: invalid duration \"soon\" for interval: write a number "
                              "with a unit, such as 500ms, 10s or 1m30s");
}

Test(yread, containers_and_choices)
{
    static const char *const kinds[] = {"command", "sql", NULL};
    struct strv v = {0};
    int k = -1;

    cr_assert_eq(yread_strings(&r, value("a: one", "a"), "a", &v), 0);
    cr_assert_eq(v.n, 1);
    cr_assert_eq(yread_strings(&r, value("a: [x, y]", "a"), "a", &v), 0);
    cr_assert_eq(v.n, 2);
    cr_assert_eq(yread_strings(&r, value("a: [x, [y]]", "a"), "compose", &v), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:8: compose must hold strings, not a list");
    cr_assert_eq(yread_strings(&r, value("a: {b: c}", "a"), "up", &v), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:4: up must be a string or a list of strings, not a mapping");
    strv_clear(&v);

    cr_assert_eq(yread_map(&r, value("a: [x]", "a"), "services"), -1);
    cr_assert_str_eq(err.msg,
                     "t.yml:1:4: services must be a mapping (key: value lines), not a list");
    cr_assert_eq(yread_list(&r, value("a: x", "a"), "ports"), -1);
    cr_assert_str_eq(err.msg,
                     "t.yml:1:4: ports must be a list (\"- item\" lines or [a, b]), not a scalar");

    cr_assert_eq(yread_choice(&r, value("a: sql", "a"), "kind", kinds, &k), 0);
    cr_assert_eq(k, 1);
    cr_assert_eq(yread_choice(&r, value("a: sqll", "a"), "kind", kinds, &k), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:4: unknown kind \"sqll\" (did you mean \"sql\"?)");
    cr_assert_eq(yread_choice(&r, value("a: flyway", "a"), "kind", kinds, &k), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:4: unknown kind \"flyway\": use one of command, sql");
}

Test(yread, key_tables)
{
    static const char *const vias[] = {"container", "host", NULL};
    char *dir = NULL;
    int via = 0;
    long ms = 0;
    struct yfield fields[] = {
        yfield_string("dir", &dir, "backup dir"),
        yfield_index("via", &via, "backup via", vias),
        yfield_millis("timeout", &ms, NULL),
        yfield_skip("keep"),
        yfield_end(),
    };

    cr_assert_eq(yread_fields(&r, value("{dir: b, via: host, timeout: 2s, keep: 3}", NULL),
                              "backup", fields),
                 0);
    cr_assert_str_eq(dir, "b");
    cr_assert_eq(via, 1);
    cr_assert_eq(ms, 2000);

    /* strict: an unknown key is an error, before any value is judged */
    cr_assert_eq(yread_fields(&r, value("{via: ssh, dri: b}", NULL), "backup", fields), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:12: unknown key \"dri\" in backup (did you mean \"dir\"?)");
    cr_assert_eq(yread_fields(&r, value("{zzzzzz: 1}", NULL), "backup", fields), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:2: unknown key \"zzzzzz\" in backup: known keys are dir, "
                              "via, timeout, keep");
    cr_assert_eq(yread_fields(&r, value("{timeout: 0s}", NULL), "backup", fields), -1);
    cr_assert_str_eq(err.msg, "t.yml:1:11: timeout must be longer than zero, such as 90s or 2m");

    /* lenient: a warning, and the known keys are still read */
    value("{zzzzzz: 1, dir: c}", NULL);
    r.lenient = 1;
    cr_assert_eq(yread_fields(&r, doc->root, "healthcheck", fields), 0);
    cr_assert_str_eq(dir, "c");
    cr_assert_eq(warnings.n, 1);
    cr_assert_str_eq(warnings.v[0], "t.yml:1:2: unknown healthcheck key \"zzzzzz\" ignored");
    free(dir);
}

/* Warnings stop at YREAD_MAX_WARNINGS, and one more line says so (a file of 100,000 unknown keys).
 */
Test(yread, warnings_are_bounded)
{
    const struct ynode *n = value("a: 1", "a");
    for (int i = 0; i < 5000; i++)
        yread_warn(&r, n, "unknown key %d", i);
    cr_assert_eq(warnings.n, YREAD_MAX_WARNINGS + 1);
    cr_assert_str_eq(warnings.v[YREAD_MAX_WARNINGS],
                     "more warnings are left out: only the first 1000 are shown");
}
