/*
 * testutil.h - helpers shared by the unit tests: scratch directories,
 * writing files, loading a project with a fixed set of variables.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * How much slower the sanitizers make code: a test's timeout that guards
 * against quadratic work (seconds without, hours with) is multiplied by
 * it, so `make test SAN=1` does not fail on ASan's constant factor.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TU_SAN_SLOWDOWN 10
#else
#define TU_SAN_SLOWDOWN 1
#endif

#include "buf.h"
#include "compose.h"

/* A new scratch directory; the caller frees the string. */
static inline char *tu_tmpdir(void)
{
    char tmpl[] = "/tmp/ttdeploy-unit-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? xstrdup(d) : NULL;
}

/* Removes dir and everything under it; 0 when it worked. */
static inline int tu_rmtree(const char *dir)
{
    struct buf cmd = {0};
    buf_printf(&cmd, "rm -rf '%s'", dir);
    int rc = system(cmd.data);
    buf_release(&cmd);
    return rc;
}

/* Writes dir/name with text; returns the path (caller frees). */
static inline char *tu_write(const char *dir, const char *name, const char *text)
{
    struct buf p = {0};
    buf_printf(&p, "%s/%s", dir, name);
    FILE *f = fopen(p.data, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return buf_detach(&p);
}

/*
 * Loads text as dir/compose.yml with the given NAME=value variables (NULL
 * terminated) instead of the process environment.
 */
static inline int tu_load(const char *text, const char *const *vars, struct compose_project **out,
                          struct tt_err *err)
{
    char *dir = tu_tmpdir();
    char *path = tu_write(dir, "compose.yml", text);
    struct compose_options o = {0};
    struct vars v = {0};
    for (size_t i = 0; vars && vars[i]; i++) {
        const char *eq = strchr(vars[i], '=');
        char *name = xstrndup(vars[i], (size_t)(eq - vars[i]));
        vars_set(&v, name, eq + 1);
        free(name);
    }
    strv_push(&o.files, path);
    o.environ = &v;
    int rc = compose_load(&o, out, err);
    strv_clear(&o.files);
    vars_clear(&v);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
    return rc;
}

#endif
