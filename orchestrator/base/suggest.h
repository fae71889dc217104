/*
 * suggest.h - "did you mean" hints: the candidate nearest to a misspelt
 * word, by edit distance.
 */
#ifndef SUGGEST_H
#define SUGGEST_H

#include <stddef.h>

/* The candidate within 2 edits of word (the nearest), or NULL. */
const char *suggest_closest(const char *word, const char *const *candidates, size_t n);

#endif
