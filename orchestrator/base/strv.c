/*
 * strv.c - string arrays.
 */
#include "strv.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

void strv_push_owned(struct strv *s, char *str)
{
    if (s->n + 1 >= s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
}

void strv_push(struct strv *s, const char *str)
{
    strv_push_owned(s, xstrdup(str));
}

void strv_clear(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

void strv_copy(struct strv *dst, const struct strv *src)
{
    strv_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        strv_push(dst, src->v[i]);
}

int strv_contains(const struct strv *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return 1;
    return 0;
}

char *strv_join(const struct strv *s, const char *sep)
{
    struct buf b = {0};
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            buf_adds(&b, sep);
        buf_adds(&b, s->v[i]);
    }
    return buf_detach(&b);
}
