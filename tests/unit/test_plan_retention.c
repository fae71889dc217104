/*
 * test_plan_retention.c - the plan's retention: section: keep loads, and
 * each plan retention could not honour is refused naming plan.yml:line
 * and what to write instead (keep below 1, a missing key, an unknown one).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"

#define HEAD "version: 1\nrelease: {version: v1}\n"

/* Parses HEAD then text as plan.yml; returns plan_parse's result, *out the plan or NULL. */
static int parse(const char *text, struct plan **out, struct tt_err *err)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s%s", HEAD, text);
    return plan_parse("plan.yml", buf, strlen(buf), NULL, out, err);
}

/* Asserts text is refused with a message holding each of the NULL-ended needles. */
static void refused(const char *text, const char *const *needles)
{
    struct tt_err err = {0};
    struct plan *p = NULL;
    cr_assert_eq(parse(text, &p, &err), -1, "accepted: %s", text);
    cr_assert_null(p);
    for (size_t i = 0; needles[i]; i++)
        cr_assert(strstr(err.msg, needles[i]), "%s: no \"%s\" in: %s", text, needles[i], err.msg);
}

Test(plan_retention, absent_means_no_retention)
{
    struct tt_err err = {0};
    struct plan *p = NULL;
    cr_assert_eq(parse("", &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p->retention_keep, 0);
    plan_free(p);
}

Test(plan_retention, keep_loads)
{
    struct tt_err err = {0};
    struct plan *p = NULL;
    cr_assert_eq(parse("retention:\n  images: {keep: 3}\n", &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p->retention_keep, 3);
    cr_assert_eq(p->retention_at.line, 4);
    plan_free(p);
    cr_assert_eq(parse("retention: {images: {keep: 1}}\n", &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p->retention_keep, 1);
    plan_free(p);
}

Test(plan_retention, keep_zero_or_negative_says_why)
{
    refused("retention:\n  images: {keep: 0}\n",
            (const char *[]){"plan.yml:4:18:", "keep must be at least 1, not 0",
                             "is the one running", NULL});
    refused("retention:\n  images:\n    keep: -2\n",
            (const char *[]){"plan.yml:5:11:", "at least 1, not -2", NULL});
    refused("retention: {images: {keep: 2147483647}}\n",
            (const char *[]){"plan.yml:3:", "keep is 2147483647, above 1000",
                             "leave retention: out", NULL});
}

Test(plan_retention, keep_not_a_number)
{
    refused("retention: {images: {keep: three}}\n",
            (const char *[]){"plan.yml:3:", "retention images keep must be a whole number",
                             "\"three\"", NULL});
    refused("retention: {images: {keep: 99999999999}}\n",
            (const char *[]){"plan.yml:3:", "retention images keep", NULL});
}

Test(plan_retention, missing_keys)
{
    refused("retention: {}\n", (const char *[]){"plan.yml:3:", "retention needs images", NULL});
    refused("retention: {images: {}}\n",
            (const char *[]){"plan.yml:3:", "retention images needs keep: N", NULL});
    refused("retention: 3\n", (const char *[]){"plan.yml:3:", "retention", NULL});
}

Test(plan_retention, unknown_keys_are_errors)
{
    refused("retention: {images: {keep: 2}, backups: {keep: 2}}\n",
            (const char *[]){"plan.yml:3:", "backups", NULL});
    refused("retention: {images: {keep: 2, keep_last: 4}}\n",
            (const char *[]){"plan.yml:3:", "keep_last", NULL});
    refused("retention: {images: {kep: 2}}\n", (const char *[]){"kep", "keep", NULL});
}
