/*
 * storetest.h - the fixture of the store's unit tests (test_store*.c): a
 * fresh store at DIR/.ttdeploy/state.db for each test, closed and its
 * directory removed afterwards.  dir, path and st are the test file's own.
 */
#ifndef STORETEST_H
#define STORETEST_H

#include <criterion/criterion.h>

#include "store.h"
#include "testutil.h"

static char *dir;
static char *path;
static struct store *st;

static void store_setup(void)
{
    struct buf p = {0};
    struct tt_err err = {0};
    dir = tu_tmpdir();
    buf_printf(&p, "%s/.ttdeploy/state.db", dir);
    path = buf_detach(&p);
    cr_assert_eq(store_open(path, &st, &err), 0, "%s", err.msg);
}

static void store_teardown(void)
{
    store_close(st);
    cr_assert_eq(tu_rmtree(dir), 0);
    free(path);
    free(dir);
}

#endif
