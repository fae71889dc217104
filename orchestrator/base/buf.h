/*
 * buf.h - the project's one growable byte buffer.
 *
 * Always NUL-terminated, so buf.data can be used as a C string.  A zeroed
 * struct buf is a valid empty buffer; buf_release() frees its storage.
 * Allocation failure aborts: a deployment tool that cannot allocate a
 * few bytes cannot do anything useful either.
 */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Hands the storage to the caller (who frees it) and leaves b empty. */
char *buf_detach(struct buf *b);
void buf_release(struct buf *b);

/* Allocation helpers that abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
