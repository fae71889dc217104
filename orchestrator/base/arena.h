/*
 * arena.h - a bump allocator for trees built by loaders.
 *
 * A loader allocates every node and string of one document from one arena
 * and frees them all at once with arena_free(); nothing inside is freed
 * individually.
 */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head;
};

void *arena_alloc(struct arena *a, size_t n); /* zeroed, 16-byte aligned */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
void arena_free(struct arena *a);

#endif
