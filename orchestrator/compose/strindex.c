/*
 * strindex.c - the hash index over strings kept elsewhere; see strindex.h.
 * FNV-1a spreads the names; linear probing finds them.
 */
#include "strindex.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

static size_t str_hash(const char *s)
{
    size_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

size_t *strindex_slot(const struct strindex *x, const char *key, strindex_name_fn *name,
                      const void *ctx)
{
    size_t mask = x->nslots - 1, i = str_hash(key) & mask;
    while (x->slots[i] && strcmp(name(ctx, x->slots[i] - 1), key) != 0)
        i = (i + 1) & mask;
    return &x->slots[i];
}

size_t strindex_find(const struct strindex *x, const char *key, strindex_name_fn *name,
                     const void *ctx)
{
    return x->nslots ? *strindex_slot(x, key, name, ctx) : 0;
}

void strindex_reserve(struct strindex *x, size_t count, size_t more, strindex_name_fn *name,
                      const void *ctx)
{
    if (2 * (count + more) <= x->nslots)
        return;
    free(x->slots);
    x->nslots = x->nslots ? 2 * x->nslots : 16;
    while (x->nslots < 2 * (count + more))
        x->nslots *= 2;
    x->slots = xcalloc(x->nslots, sizeof(*x->slots));
    for (size_t i = 0; i < count; i++)
        *strindex_slot(x, name(ctx, i), name, ctx) = i + 1;
}

void strindex_clear(struct strindex *x)
{
    free(x->slots);
    x->slots = NULL;
    x->nslots = 0;
}
