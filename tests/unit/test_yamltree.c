/*
 * test_yamltree.c - YAML trees: positions, anchors, "<<" merges and the
 * errors a user can meet.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "testutil.h"
#include "yamltree.h"

static struct ydoc *parse(const char *text, struct tt_err *err)
{
    return ydoc_parse("t.yml", text, strlen(text), 0, err);
}

Test(yamltree, scalars_keep_positions)
{
    struct tt_err err = {0};
    struct ydoc *d = parse("a: 1\nb:\n  c: \"x\"\n", &err);
    cr_assert_not_null(d, "%s", err.msg);
    struct ynode *c = ynode_get(ynode_get(d->root, "b"), "c");
    cr_assert_str_eq(c->str, "x");
    cr_assert_eq(c->line, 3);
    cr_assert_eq(c->col, 6);
    cr_assert(c->quoted);
    cr_assert_not(ynode_get(d->root, "a")->quoted);
    ydoc_free(d);
}

Test(yamltree, null_forms)
{
    struct tt_err err = {0};
    struct ydoc *d = parse("a: ~\nb: null\nc:\nd: ''\n", &err);
    cr_assert(ynode_is_null(ynode_get(d->root, "a")));
    cr_assert(ynode_is_null(ynode_get(d->root, "b")));
    cr_assert(ynode_is_null(ynode_get(d->root, "c")));
    cr_assert_not(ynode_is_null(ynode_get(d->root, "d")));
    ydoc_free(d);
}

Test(yamltree, alias_shares_anchor)
{
    struct tt_err err = {0};
    struct ydoc *d = parse("x: &v [1, 2]\ny: *v\n", &err);
    cr_assert_not_null(d, "%s", err.msg);
    cr_assert_eq(ynode_get(d->root, "x"), ynode_get(d->root, "y"));
    cr_assert_eq(ynode_get(d->root, "y")->n, 2);
    ydoc_free(d);
}

Test(yamltree, merge_key_explicit_keys_win)
{
    struct tt_err err = {0};
    struct ydoc *d = parse("base: &b {image: a, restart: always}\n"
                           "svc:\n  <<: *b\n  image: override\n",
                           &err);
    cr_assert_not_null(d, "%s", err.msg);
    struct ynode *svc = ynode_get(d->root, "svc");
    cr_assert_str_eq(ynode_get(svc, "image")->str, "override");
    cr_assert_str_eq(ynode_get(svc, "restart")->str, "always");
    cr_assert_null(ynode_get(svc, "<<"));
    cr_assert_eq(svc->n, 2);
    ydoc_free(d);
}

Test(yamltree, merge_list_earlier_wins)
{
    struct tt_err err = {0};
    struct ydoc *d = parse("a: &a {k: from-a, only_a: 1}\nb: &b {k: from-b, only_b: 2}\n"
                           "c:\n  <<: [*a, *b]\n",
                           &err);
    cr_assert_not_null(d, "%s", err.msg);
    struct ynode *c = ynode_get(d->root, "c");
    cr_assert_str_eq(ynode_get(c, "k")->str, "from-a");
    cr_assert_not_null(ynode_get(c, "only_a"));
    cr_assert_not_null(ynode_get(c, "only_b"));
    ydoc_free(d);
}

Test(yamltree, merge_of_scalar_is_an_error)
{
    struct tt_err err = {0};
    cr_assert_null(parse("a:\n  <<: 3\n", &err));
    cr_assert(strstr(err.msg, "t.yml:2:7:") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "alias of a mapping") != NULL, "%s", err.msg);
}

Test(yamltree, duplicate_key_names_both_lines)
{
    struct tt_err err = {0};
    cr_assert_null(parse("a: 1\nb: 2\na: 3\n", &err));
    cr_assert(strstr(err.msg, "t.yml:3:1:") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "first at line 1") != NULL, "%s", err.msg);
}

Test(yamltree, undefined_alias)
{
    struct tt_err err = {0};
    cr_assert_null(parse("a: *nope\n", &err));
    cr_assert(strstr(err.msg, "t.yml:1:4:") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "*nope") != NULL, "%s", err.msg);
}

Test(yamltree, bad_yaml_names_line_and_column)
{
    struct tt_err err = {0};
    cr_assert_null(parse("services:\n  api:\n    image: [a\n", &err));
    cr_assert(strncmp(err.msg, "t.yml:", 6) == 0, "%s", err.msg);
    cr_assert(strstr(err.msg, "invalid YAML") != NULL, "%s", err.msg);
    cr_assert_gt(err.line, 2);
}

Test(yamltree, tab_indentation_is_bad_yaml)
{
    struct tt_err err = {0};
    cr_assert_null(parse("a:\n\tb: 1\n", &err));
    cr_assert_eq(err.line, 2, "%s", err.msg);
}

Test(yamltree, billion_laughs_is_refused)
{
    struct buf b = {0};
    struct tt_err err = {0};
    buf_adds(&b, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'j'; c++)
        buf_printf(&b, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c, c - 1,
                   c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    cr_assert_null(parse(b.data, &err));
    cr_assert(strstr(err.msg, "billion laughs") != NULL, "%s", err.msg);
    buf_release(&b);
}

Test(yamltree, moderate_alias_use_is_fine)
{
    struct buf b = {0};
    struct tt_err err = {0};
    buf_adds(&b, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'd'; c++)
        buf_printf(&b, "%c: &%c [*%c, *%c, *%c]\n", c, c, c - 1, c - 1, c - 1);
    struct ydoc *d = parse(b.data, &err);
    cr_assert_not_null(d, "%s", err.msg);
    ydoc_free(d);
    buf_release(&b);
}

Test(yamltree, recursive_alias_is_refused)
{
    struct tt_err err = {0};
    cr_assert_null(parse("a: &a\n  b: *a\n", &err));
    cr_assert(strlen(err.msg) > 0);
}

Test(yamltree, empty_document)
{
    struct tt_err err = {0};
    struct ydoc *d = parse("", &err);
    cr_assert_not_null(d);
    cr_assert_null(d->root);
    ydoc_free(d);
}

Test(yamltree, missing_file)
{
    struct tt_err err = {0};
    cr_assert_null(ydoc_load_file("/nonexistent/compose.yml", &err));
    cr_assert(strstr(err.msg, "/nonexistent/compose.yml: cannot open") != NULL, "%s", err.msg);
}

Test(yamltree, complex_key_is_refused)
{
    struct tt_err err = {0};
    cr_assert_null(parse("services:\n  ? [a, b]\n  : {image: x}\n", &err));
    cr_assert(strstr(err.msg, "t.yml:2:5: a mapping key must be a single value, not a list") !=
                  NULL,
              "%s", err.msg);
}

/* Aliases that repeat a long string: few nodes, gigabytes of text; refused by bytes. */
Test(yamltree, alias_bytes_are_bounded)
{
    struct buf t = {0};
    struct tt_err err = {0};
    buf_adds(&t, "a: &a \"");
    for (int i = 0; i < 100000; i++)
        buf_addc(&t, 'x');
    buf_adds(&t, "\"\nb: &b [");
    for (int i = 0; i < 100; i++)
        buf_adds(&t, i ? ",*a" : "*a");
    buf_adds(&t, "]\nc: &c [");
    for (int i = 0; i < 100; i++)
        buf_adds(&t, i ? ",*b" : "*b");
    buf_adds(&t, "]\n"); /* 30,000 nodes, 1 GB */
    cr_assert_null(parse(t.data, &err));
    cr_assert(strstr(err.msg, "t.yml:2:4: ") == err.msg, "%s", err.msg); /* the anchor aliased */
    cr_assert(strstr(err.msg, "aliases expand to more than 67108864 bytes (64 MB)") != NULL, "%s",
              err.msg);
    buf_release(&t);
}

/* A file over YFILE_MAX_BYTES is refused with its size, before it is parsed. */
Test(yamltree, file_size_is_bounded)
{
    char path[] = "/tmp/ttdeploy-unit-bigXXXXXX";
    int fd = mkstemp(path);
    struct tt_err err = {0};
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, YFILE_MAX_BYTES + 1), 0);
    close(fd);
    cr_assert_null(ydoc_load_file(path, &err));
    char want[256];
    snprintf(want, sizeof(want), "%s: the file is 16777217 bytes, more than the 16777216 (16 MB)",
             path);
    cr_assert(strstr(err.msg, want) == err.msg, "%s", err.msg);
    unlink(path);
    cr_assert_null(ydoc_parse("mem.yml", "", YFILE_MAX_BYTES + 1, 0, &err));
    cr_assert(strstr(err.msg, "mem.yml: the file is 16777217 bytes") == err.msg, "%s", err.msg);
}

/* A mapping with many keys and a file with many anchors stay linear (were quadratic). */
Test(yamltree, many_keys_and_anchors, .timeout = 3 * TU_SAN_SLOWDOWN)
{
    struct buf t = {0};
    struct tt_err err = {0};
    buf_adds(&t, "m:\n");
    for (int i = 0; i < 120000; i++)
        buf_printf(&t, "  k%d: &a%d v\n", i, i);
    buf_adds(&t, "last: *a119999\ndup:\n  k1: 1\n  k2: 2\n  k1: 3\n");
    cr_assert_null(parse(t.data, &err));
    cr_assert_str_eq(err.msg, "t.yml:120006:3: key \"k1\" is defined twice in this mapping (first "
                              "at line 120004): remove one");
    buf_release(&t);
}

/* A big mapping keeps its key index: ynode_get finds the last of 100,000 keys, and misses. */
Test(yamltree, big_mapping_lookup)
{
    struct buf t = {0};
    struct tt_err err = {0};
    for (int i = 0; i < 100000; i++)
        buf_printf(&t, "k%d: v%d\n", i, i);
    struct ydoc *d = parse(t.data, &err);
    cr_assert_not_null(d, "%s", err.msg);
    cr_assert_str_eq(ynode_get(d->root, "k99999")->str, "v99999");
    cr_assert_str_eq(ynode_get(d->root, "k0")->str, "v0");
    cr_assert_null(ynode_get(d->root, "k100000"));
    ydoc_free(d);
    buf_release(&t);
}
