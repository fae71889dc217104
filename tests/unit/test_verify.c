/*
 * test_verify.c - how SQL check results are compared with their
 * expectations, and the database URL helpers the database phases use.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "pgdb.h"
#include "verify.h"

Test(verify, numbers_compare_as_numbers)
{
    cr_assert(verify_compare("10", ">= 9", NULL));
    cr_assert(verify_compare("10", ">= 10", NULL));
    cr_assert_not(verify_compare("9", ">= 10", NULL), "9 < 10 even though \"9\" > \"10\" as text");
    cr_assert(verify_compare("3", "< 10", NULL));
    cr_assert(verify_compare("2.50", "= 2.5", NULL));
    cr_assert(verify_compare("0", "!= 1", NULL));
    cr_assert(verify_compare("7", "== 7", NULL));
    cr_assert_not(verify_compare("7", "> 7", NULL));
}

Test(verify, text_and_before)
{
    cr_assert(verify_compare("ok", "= ok", NULL));
    cr_assert_not(verify_compare("ok", "= OK", NULL));
    cr_assert(verify_compare("1000", ">= before", "1000"));
    cr_assert_not(verify_compare("999", ">= before", "1000"), "rows were lost");
    cr_assert(verify_compare("r2", "!= before", "r1"));
    cr_assert_not(verify_compare("5", "about 5", NULL), "no operator, no match");
}

Test(verify, needs_before)
{
    struct plan_check c = {.kind = PLAN_CHECK_SQL, .expect = ">= before"};
    cr_assert(verify_needs_before(&c));
    c.expect = ">= 3";
    cr_assert_not(verify_needs_before(&c));
    c.kind = PLAN_CHECK_HTTP;
    c.expect = NULL;
    cr_assert_not(verify_needs_before(&c));
}

Test(verify, database_urls)
{
    const char *url = "postgresql://app:s3:cr@t@db.local:5432/shop?sslmode=disable";
    char *db = pgdb_url_db(url), *user, *password;
    cr_assert_str_eq(db, "shop");
    free(db);
    pgdb_url_credentials("postgresql://app:pw@host/db", &user, &password);
    cr_assert_str_eq(user, "app");
    cr_assert_str_eq(password, "pw");
    free(user);
    free(password);
    pgdb_url_credentials("postgresql://host/db", &user, &password);
    cr_assert_null(user);
    cr_assert_null(password);
    cr_assert_null(pgdb_url_db("postgresql://host"));
}
