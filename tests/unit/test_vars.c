/*
 * test_vars.c - interpolation forms and dotenv parsing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"
#include "vars.h"

static struct vars v;

static void setup(void)
{
    memset(&v, 0, sizeof(v));
    vars_set(&v, "SET", "value");
    vars_set(&v, "EMPTY", "");
}

static void teardown(void)
{
    vars_clear(&v);
}

/* Interpolates text; returns a static copy of the result or "ERR:<msg>". */
static const char *interp(const char *text)
{
    static char out[4096];
    struct buf b = {0};
    struct tt_err err = {0};
    if (vars_interpolate(&v, text, &b, "c.yml", 4, 9, NULL, &err) < 0)
        snprintf(out, sizeof(out), "ERR:%s", err.msg);
    else
        snprintf(out, sizeof(out), "%s", b.data);
    buf_release(&b);
    return out;
}

TestSuite(vars, .init = setup, .fini = teardown);

Test(vars, plain_and_braced)
{
    cr_assert_str_eq(interp("a-$SET-b"), "a-value-b");
    cr_assert_str_eq(interp("a-${SET}b"), "a-valueb");
    cr_assert_str_eq(interp("$SET.x"), "value.x");
}

Test(vars, unset_becomes_empty_with_warning)
{
    struct buf b = {0};
    struct strv w = {0};
    struct tt_err err = {0};
    cr_assert_eq(vars_interpolate(&v, "x${NOPE}y", &b, "c.yml", 2, 3, &w, &err), 0);
    cr_assert_str_eq(b.data, "xy");
    cr_assert_eq(w.n, 1);
    cr_assert(strstr(w.v[0], "c.yml:2:3: variable NOPE is not set") != NULL, "%s", w.v[0]);
    buf_release(&b);
    strv_clear(&w);
}

Test(vars, defaults)
{
    cr_assert_str_eq(interp("${NOPE:-def}"), "def");
    cr_assert_str_eq(interp("${EMPTY:-def}"), "def");
    cr_assert_str_eq(interp("${EMPTY-def}"), "");
    cr_assert_str_eq(interp("${NOPE-def}"), "def");
    cr_assert_str_eq(interp("${SET:-def}"), "value");
}

Test(vars, nested_default)
{
    cr_assert_str_eq(interp("${NOPE:-${SET}}"), "value");
    cr_assert_str_eq(interp("${NOPE:-a${NOPE2:-b}c}"), "abc");
}

Test(vars, alternatives)
{
    cr_assert_str_eq(interp("${SET:+alt}"), "alt");
    cr_assert_str_eq(interp("${EMPTY:+alt}"), "");
    cr_assert_str_eq(interp("${EMPTY+alt}"), "alt");
    cr_assert_str_eq(interp("${NOPE+alt}"), "");
}

Test(vars, required)
{
    cr_assert_str_eq(interp("${SET:?must}"), "value");
    cr_assert_str_eq(interp("${EMPTY?must}"), "");
    cr_assert_str_eq(interp("${NOPE:?give the db password}"),
                     "ERR:c.yml:4:9: required variable NOPE is missing: give the db password "
                     "(set it in the environment or in .env)");
    cr_assert(strstr(interp("${EMPTY:?x}"), "required variable EMPTY is empty") != NULL);
}

Test(vars, dollar_escape)
{
    cr_assert_str_eq(interp("$$HOME and $${SET}"), "$HOME and ${SET}");
}

Test(vars, invalid_forms)
{
    cr_assert(strstr(interp("a $ b"), "ERR:c.yml:4:9: invalid interpolation") != NULL);
    cr_assert(strstr(interp("${SET"), "unterminated") != NULL);
    cr_assert(strstr(interp("${1abc}"), "starts with a letter") != NULL);
    cr_assert(strstr(interp("${SET!x}"), "after the name use") != NULL);
    cr_assert(strstr(interp("trailing $"), "invalid interpolation") != NULL);
}

Test(vars, dotenv_parsing)
{
    char *dir = tu_tmpdir();
    char *path = tu_write(dir, ".env",
                          "# comment\n"
                          "A=1\n"
                          "export B=two words\n"
                          "C='single # not comment'\n"
                          "D=\"dq \\\"esc\\\" \\n\"\n"
                          "E=val # inline comment\n"
                          "F=a#b\n"
                          "  G = spaced\n"
                          "\n"
                          "SET=from-file\n");
    struct tt_err err = {0};
    cr_assert_eq(vars_load_dotenv(&v, path, 1, 0, &err), 0, "%s", err.msg);
    cr_assert_str_eq(vars_get(&v, "A"), "1");
    cr_assert_str_eq(vars_get(&v, "B"), "two words");
    cr_assert_str_eq(vars_get(&v, "C"), "single # not comment");
    cr_assert_str_eq(vars_get(&v, "D"), "dq \"esc\" \n");
    cr_assert_str_eq(vars_get(&v, "E"), "val");
    cr_assert_str_eq(vars_get(&v, "F"), "a#b");
    cr_assert_str_eq(vars_get(&v, "G"), "spaced");
    cr_assert_str_eq(vars_get(&v, "SET"), "value", "the environment wins over .env");
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

Test(vars, dotenv_errors)
{
    char *dir = tu_tmpdir();
    char *path = tu_write(dir, "bad.env", "A=1\n=nope\n");
    struct tt_err err = {0};
    cr_assert_eq(vars_load_dotenv(&v, path, 1, 0, &err), -1);
    cr_assert(strstr(err.msg, "bad.env:2:1: expected NAME=value") != NULL, "%s", err.msg);
    char *path2 = tu_write(dir, "q.env", "A='open\n");
    cr_assert_eq(vars_load_dotenv(&v, path2, 1, 0, &err), -1);
    cr_assert(strstr(err.msg, "q.env:1:1: unterminated ' quote") != NULL, "%s", err.msg);
    cr_assert_eq(vars_load_dotenv(&v, "/nonexistent/.env", 0, 0, &err), 0);
    cr_assert_eq(vars_load_dotenv(&v, "/nonexistent/.env", 1, 0, &err), -1);
    unlink(path);
    unlink(path2);
    rmdir(dir);
    free(path);
    free(path2);
    free(dir);
}

/* "${A:-${A:-...}}" deeper than VARS_MAX_NESTING: an error at file:line, never a stack overflow. */
Test(vars, nesting_is_bounded)
{
    struct buf text = {0};
    for (int i = 0; i < VARS_MAX_NESTING; i++)
        buf_adds(&text, "${NOPE:-");
    buf_adds(&text, "deep");
    for (int i = 0; i < VARS_MAX_NESTING; i++)
        buf_addc(&text, '}');
    cr_assert_str_eq(interp(text.data), "deep", "64 levels are allowed");
    buf_reset(&text);
    for (int i = 0; i < 60000; i++) /* segfaulted before: one stack frame pair per level */
        buf_adds(&text, "${A:-");
    buf_adds(&text, "x");
    for (int i = 0; i < 60000; i++)
        buf_addc(&text, '}');
    const char *m = interp(text.data);
    cr_assert(strncmp(m, "ERR:c.yml:4:9: \"${\" nested more than 64 deep", 44) == 0, "%.200s", m);
    buf_release(&text);
}

/* A long value substituted over and over stops at VARS_MAX_EXPANSION bytes. */
Test(vars, expansion_is_bounded)
{
    struct buf big = {0}, text = {0}, out = {0};
    struct tt_err err = {0};
    for (int i = 0; i < (1 << 20); i++)
        buf_addc(&big, 'x');
    vars_set(&v, "BIG", big.data);
    for (int i = 0; i < 65; i++)
        buf_adds(&text, "$BIG");
    cr_assert_eq(vars_interpolate(&v, text.data, &out, "c.yml", 4, 9, NULL, &err), -1);
    cr_assert(strstr(err.msg, "c.yml:4:9: variables expand to more than 67108864 bytes") != NULL,
              "%s", err.msg);
    buf_release(&big);
    buf_release(&text);
    buf_release(&out);
}

/* Many variables: set, replaced and found again through the index. */
Test(vars, many_names)
{
    char name[32], val[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof(name), "V%d", i);
        snprintf(val, sizeof(val), "%d", i);
        vars_set(&v, name, val);
    }
    vars_set(&v, "V77", "again");
    cr_assert_eq(v.names.n, 100002);
    cr_assert_str_eq(vars_get(&v, "V99999"), "99999");
    cr_assert_str_eq(vars_get(&v, "V77"), "again");
    cr_assert_str_eq(vars_get(&v, "SET"), "value");
    cr_assert_null(vars_get(&v, "V100000"));
}

/* Unset-variable warnings stop at VARS_MAX_UNSET_WARNINGS, plus one saying so. */
Test(vars, unset_warnings_are_bounded)
{
    struct buf text = {0}, out = {0};
    struct strv w = {0};
    struct tt_err err = {0};
    for (int i = 0; i < 5000; i++)
        buf_printf(&text, "$U%d", i);
    cr_assert_eq(vars_interpolate(&v, text.data, &out, "c.yml", 1, 1, &w, &err), 0);
    cr_assert_eq(w.n, VARS_MAX_UNSET_WARNINGS + 1);
    cr_assert(strstr(w.v[w.n - 1], "only the first 100") != NULL, "%s", w.v[w.n - 1]);
    buf_release(&text);
    buf_release(&out);
    strv_clear(&w);
}

/* An env file of more than VARS_MAX_DOTENV variables is refused at the line that passes it. */
Test(vars, dotenv_entries_are_bounded)
{
    struct buf t = {0};
    struct tt_err err = {0};
    for (int i = 0; i <= VARS_MAX_DOTENV; i++)
        buf_printf(&t, "V%d=%d\n", i, i);
    cr_assert_eq(vars_parse_dotenv(&v, "big.env", t.data, t.len, 0, &err), -1);
    cr_assert_str_eq(err.msg, "big.env:100001:1: more than 100000 variables in one env file: is "
                              "it an env file?");
    buf_release(&t);
}
