/*
 * tterr.h - the error value every fallible function fills.
 *
 * Library code never prints: it returns -1 and leaves a message in a
 * caller-owned struct tt_err.  When the error is about an input file the
 * message starts with "file:line:column: " so editors can jump to it.
 */
#ifndef TTERR_H
#define TTERR_H

#include <stddef.h>

struct tt_err {
    char msg[2048];
    char file[1024]; /* empty when the error is not about an input file */
    int line;        /* 1-based, 0 when unknown */
    int col;
};

/* Fills err with a message and returns -1, so callers can "return tt_error(...)". */
int tt_error(struct tt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Same, prefixed with file:line:col (line 0 omits the position). */
int tt_error_at(struct tt_err *err, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

void tt_err_clear(struct tt_err *err);

#endif
