/*
 * strv.h - a growable, owned array of strings (argv-like, NULL-terminated).
 */
#ifndef STRV_H
#define STRV_H

#include <stddef.h>

struct strv {
    char **v; /* v[n] is always NULL once anything was pushed */
    size_t n, cap;
};

void strv_push(struct strv *s, const char *str);
void strv_push_owned(struct strv *s, char *str);
void strv_copy(struct strv *dst, const struct strv *src); /* dst is cleared first */
void strv_clear(struct strv *s);
int strv_contains(const struct strv *s, const char *str);
/* Joins with sep into a new string the caller frees. */
char *strv_join(const struct strv *s, const char *sep);

#endif
