/*
 * strindex.h - a hash index over strings kept elsewhere: anchor names,
 * a mapping's keys, variable names, environment keys.
 *
 * Loaders used to find a name by scanning every earlier one, which made a
 * file with a million keys quadratic (hours).  The index maps a string to
 * its position in the caller's array: open addressing, a slot holding the
 * position + 1 (0: empty), kept at most half full so probes stay short.
 * The caller owns the strings; the index asks for the string at a
 * position through name(ctx, pos), so it survives the array moving.
 */
#ifndef STRINDEX_H
#define STRINDEX_H

#include <stddef.h>

typedef const char *strindex_name_fn(const void *ctx, size_t pos);

struct strindex {
    size_t *slots;
    size_t nslots; /* 0 or a power of two */
};

/*
 * Makes room for more names, count being the positions 0..count-1 the
 * index holds (re-indexed when it grows).  Call before strindex_slot.
 */
void strindex_reserve(struct strindex *x, size_t count, size_t more, strindex_name_fn *name,
                      const void *ctx);
/* The slot of key: *slot is its position + 1, or 0 where it would go (set it to add). */
size_t *strindex_slot(const struct strindex *x, const char *key, strindex_name_fn *name,
                      const void *ctx);
/* The position of key + 1, or 0 when absent (also when nothing was reserved yet). */
size_t strindex_find(const struct strindex *x, const char *key, strindex_name_fn *name,
                     const void *ctx);
void strindex_clear(struct strindex *x);

#endif
