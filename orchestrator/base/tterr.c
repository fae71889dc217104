/*
 * tterr.c - building error messages for struct tt_err.
 */
#include "tterr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tt_err_clear(struct tt_err *err)
{
    if (!err)
        return;
    err->msg[0] = '\0';
    err->file[0] = '\0';
    err->line = 0;
    err->col = 0;
}

int tt_error(struct tt_err *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    tt_err_clear(err);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int tt_error_at(struct tt_err *err, const char *file, int line, int col, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (!err)
        return -1;
    tt_err_clear(err);
    snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
    err->line = line;
    err->col = col;
    if (file && line > 0)
        n = snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: ", file, line, col);
    else if (file)
        n = snprintf(err->msg, sizeof(err->msg), "%s: ", file);
    if (n < 0 || (size_t)n >= sizeof(err->msg))
        n = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}
