/*
 * yread.c - reading typed values out of a YAML tree, with messages that
 * say where, what was expected and what was found.  See yread.h.
 */
#include "yread.h"
#include "buf.h"
#include "compose.h"
#include "suggest.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int yread_error(const struct yread *r, const struct ynode *n, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!n)
        return tt_error_at(r->err, r->file ? r->file : "", 0, 0, "%s", msg);
    return tt_error_at(r->err, n->file, n->line, n->col, "%s", msg);
}

void yread_warn(const struct yread *r, const struct ynode *n, const char *fmt, ...)
{
    struct buf b = {0};
    char msg[1024];
    va_list ap;
    if (!r->warnings || r->warnings->n > YREAD_MAX_WARNINGS)
        return;
    if (r->warnings->n == YREAD_MAX_WARNINGS) {
        strv_push(r->warnings, "more warnings are left out: only the first 1000 are shown");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_printf(&b, "%s:%d:%d: %s", n->file, n->line, n->col, msg);
    strv_push_owned(r->warnings, buf_detach(&b));
}

/* The text of a non-null scalar, or an error saying the value must be `expected`. */
static int scalar_as(const struct yread *r, const struct ynode *n, const char *what,
                     const char *expected, const char **out)
{
    if (!n || n->kind != YNODE_SCALAR || ynode_is_null(n))
        return yread_error(r, n, "%s must be %s, not %s", what, expected, ynode_kind_name(n));
    *out = n->str;
    return 0;
}

int yread_scalar(const struct yread *r, const struct ynode *n, const char *what, const char **out)
{
    return scalar_as(r, n, what, "a single value", out);
}

int yread_string(const struct yread *r, const struct ynode *n, const char *what, char **dst)
{
    const char *s;
    if (yread_scalar(r, n, what, &s) < 0)
        return -1;
    free(*dst);
    *dst = xstrdup(s);
    return 0;
}

int yread_bool(const struct yread *r, const struct ynode *n, const char *what, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", NULL};
    const char *s;
    if (scalar_as(r, n, what, "true or false", &s) < 0)
        return -1;
    for (size_t i = 0; yes[i]; i++) {
        if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
            *out = !strcmp(s, yes[i]);
            return 0;
        }
    }
    return yread_error(r, n, "%s must be true or false, not \"%s\"", what, s);
}

int yread_int(const struct yread *r, const struct ynode *n, const char *what, int min, int *out)
{
    const char *s;
    char *end;
    if (scalar_as(r, n, what, "a whole number", &s) < 0)
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!errno && !*end && end != s && v >= min && v <= INT_MAX) {
        *out = (int)v;
        return 0;
    }
    if (end != s && !*end)
        return yread_error(r, n, "%s must be a whole number from %d to %d, not \"%s\"", what, min,
                           INT_MAX, s);
    if (min == 0)
        return yread_error(r, n, "%s must be a whole number, not \"%s\"", what, s);
    return yread_error(r, n, "%s must be a whole number of at least %d, not \"%s\"", what, min, s);
}

int yread_duration(const struct yread *r, const struct ynode *n, const char *what, long long *ns)
{
    const char *s;
    compose_ns v;
    if (scalar_as(r, n, what, "a duration such as 10s", &s) < 0)
        return -1;
    int rc = compose_parse_duration(s, &v);
    if (rc == -2)
        return yread_error(r, n, "duration \"%s\" for %s is out of range: it must be from 0 to %s",
                           s, what, COMPOSE_MAX_DURATION_TEXT);
    if (rc < 0)
        return yread_error(r, n,
                           "invalid duration \"%s\" for %s: write a number with a unit, such as "
                           "500ms, 10s or 1m30s",
                           s, what);
    *ns = v;
    return 0;
}

/* A duration above zero, in milliseconds. */
static int read_millis(const struct yread *r, const struct ynode *n, const char *what, long *ms)
{
    long long ns;
    if (yread_duration(r, n, what, &ns) < 0)
        return -1;
    if (ns <= 0)
        return yread_error(r, n, "%s must be longer than zero, such as 90s or 2m", what);
    *ms = (long)(ns / 1000000);
    return 0;
}

int yread_map(const struct yread *r, const struct ynode *n, const char *what)
{
    if (!n || n->kind != YNODE_MAP)
        return yread_error(r, n, "%s must be a mapping (key: value lines), not %s", what,
                           ynode_kind_name(n));
    return 0;
}

int yread_list(const struct yread *r, const struct ynode *n, const char *what)
{
    if (!n || n->kind != YNODE_SEQ)
        return yread_error(r, n, "%s must be a list (\"- item\" lines or [a, b]), not %s", what,
                           ynode_kind_name(n));
    return 0;
}

int yread_strings(const struct yread *r, const struct ynode *n, const char *what, struct strv *out)
{
    strv_clear(out);
    if (n && n->kind == YNODE_SCALAR && !ynode_is_null(n)) {
        strv_push(out, n->str);
        return 0;
    }
    if (!n || n->kind != YNODE_SEQ)
        return yread_error(r, n, "%s must be a string or a list of strings, not %s", what,
                           ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *item = n->items[i];
        if (item->kind != YNODE_SCALAR || ynode_is_null(item)) {
            strv_clear(out); /* nothing half-read is left to the caller */
            return yread_error(r, item, "%s must hold strings, not %s", what,
                               ynode_kind_name(item));
        }
        strv_push(out, item->str);
    }
    return 0;
}

static size_t count(const char *const *names)
{
    size_t n = 0;
    while (names[n])
        n++;
    return n;
}

/* "unknown WHAT "s" (did you mean ...?)" or "...: use one of a, b, c". */
static int unknown_name(const struct yread *r, const struct ynode *n, const char *what,
                        const char *s, const char *const *names)
{
    const char *hint = suggest_closest(s, names, count(names));
    if (hint)
        return yread_error(r, n, "unknown %s \"%s\" (did you mean \"%s\"?)", what, s, hint);
    struct buf all = {0};
    for (size_t i = 0; names[i]; i++)
        buf_printf(&all, "%s%s", i ? ", " : "", names[i]);
    int rc = yread_error(r, n, "unknown %s \"%s\": use one of %s", what, s, all.data);
    buf_release(&all);
    return rc;
}

int yread_choice(const struct yread *r, const struct ynode *n, const char *what,
                 const char *const *names, int *index)
{
    const char *s;
    if (yread_scalar(r, n, what, &s) < 0)
        return -1;
    for (int i = 0; names[i]; i++) {
        if (!strcmp(s, names[i])) {
            *index = i;
            return 0;
        }
    }
    return unknown_name(r, n, what, s, names);
}

static struct yfield row(const char *key, enum yfield_kind kind, void *dst, const char *what)
{
    struct yfield f = {0};
    f.key = key;
    f.kind = kind;
    f.dst = dst;
    f.what = what;
    return f;
}

struct yfield yfield_string(const char *key, char **dst, const char *what)
{
    return row(key, YFIELD_STRING, dst, what);
}

struct yfield yfield_strings(const char *key, struct strv *dst, const char *what)
{
    return row(key, YFIELD_STRINGS, dst, what);
}

struct yfield yfield_bool(const char *key, int *dst, const char *what)
{
    return row(key, YFIELD_BOOL, dst, what);
}

struct yfield yfield_int(const char *key, int *dst, const char *what, int min)
{
    struct yfield f = row(key, YFIELD_INT, dst, what);
    f.min = min;
    return f;
}

struct yfield yfield_duration(const char *key, long long *ns, const char *what)
{
    return row(key, YFIELD_DURATION, ns, what);
}

struct yfield yfield_millis(const char *key, long *ms, const char *what)
{
    return row(key, YFIELD_MILLIS, ms, what);
}

struct yfield yfield_name(const char *key, char **dst, const char *what, const char *const *names)
{
    struct yfield f = row(key, YFIELD_NAME, dst, what);
    f.names = names;
    return f;
}

struct yfield yfield_index(const char *key, int *dst, const char *what, const char *const *names)
{
    struct yfield f = row(key, YFIELD_INDEX, dst, what);
    f.names = names;
    return f;
}

struct yfield yfield_section(const char *key, const struct yfield *fields, const char *what)
{
    struct yfield f = row(key, YFIELD_SECTION, NULL, what);
    f.section = fields;
    return f;
}

struct yfield yfield_skip(const char *key)
{
    return row(key, YFIELD_SKIP, NULL, NULL);
}

struct yfield yfield_required(struct yfield f, const char *missing)
{
    f.missing = missing;
    return f;
}

struct yfield yfield_end(void)
{
    return row(NULL, YFIELD_SKIP, NULL, NULL);
}

const struct yfield *yfield_find(const struct yfield *fields, const char *key)
{
    for (size_t i = 0; fields[i].key; i++)
        if (!strcmp(fields[i].key, key))
            return &fields[i];
    return NULL;
}

int yread_field(const struct yread *r, const struct yfield *f, const struct ynode *value)
{
    const char *what = f->what ? f->what : f->key;
    int index;

    switch (f->kind) {
    case YFIELD_STRING:
        return yread_string(r, value, what, f->dst);
    case YFIELD_STRINGS:
        return yread_strings(r, value, what, f->dst);
    case YFIELD_BOOL:
        return yread_bool(r, value, what, f->dst);
    case YFIELD_INT:
        return yread_int(r, value, what, f->min, f->dst);
    case YFIELD_DURATION:
        return yread_duration(r, value, what, f->dst);
    case YFIELD_MILLIS:
        return read_millis(r, value, what, f->dst);
    case YFIELD_NAME:
        if (yread_choice(r, value, what, f->names, &index) < 0)
            return -1;
        free(*(char **)f->dst);
        *(char **)f->dst = xstrdup(f->names[index]);
        return 0;
    case YFIELD_INDEX:
        return yread_choice(r, value, what, f->names, f->dst);
    case YFIELD_SECTION:
        return yread_fields(r, value, what, f->section);
    case YFIELD_SKIP:
        break;
    }
    return 0;
}

/* The error for key k, which no row of fields names. */
static int unknown_key(const struct yread *r, const struct ynode *k, const char *key,
                       const char *what, const struct yfield *fields)
{
    struct strv keys = {0};
    for (size_t i = 0; fields[i].key; i++)
        strv_push(&keys, fields[i].key);
    const char *hint = suggest_closest(key, (const char *const *)keys.v, keys.n);
    int rc;
    if (hint) {
        rc = yread_error(r, k, "unknown key \"%s\" in %s (did you mean \"%s\"?)", key, what, hint);
    } else {
        char *all = strv_join(&keys, ", ");
        rc = yread_error(r, k, "unknown key \"%s\" in %s: known keys are %s", key, what, all);
        free(all);
    }
    strv_clear(&keys);
    return rc;
}

int yread_fields(const struct yread *r, const struct ynode *map, const char *what,
                 const struct yfield *fields)
{
    if (yread_map(r, map, what) < 0)
        return -1;
    /* Every key first: a misspelt key says so before its value is judged. */
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = map->items[2 * i];
        const char *key = k->str ? k->str : "";
        if (yfield_find(fields, key))
            continue;
        if (!r->lenient)
            return unknown_key(r, k, key, what, fields);
        yread_warn(r, k, "unknown %s key \"%s\" ignored", what, key);
    }
    for (size_t i = 0; i < map->n; i++) {
        const char *key = map->items[2 * i]->str ? map->items[2 * i]->str : "";
        const struct yfield *f = yfield_find(fields, key);
        if (f && yread_field(r, f, map->items[2 * i + 1]) < 0)
            return -1;
    }
    for (size_t i = 0; fields[i].key; i++)
        if (fields[i].missing && !ynode_get(map, fields[i].key))
            return yread_error(r, map, "%s", fields[i].missing);
    return 0;
}
