/*
 * yread.h - reading typed values out of a YAML tree, for the loaders of
 * compose files (compose/) and plans (plans/).
 *
 * Each reader checks one node against what it should be and either fills
 * the destination or fails with a message that names file:line:column,
 * what was expected and what was found ("healthcheck retries must be a
 * whole number, not \"three\"").  "what" is the name the user knows the
 * value by ("healthcheck interval", "release git").
 *
 * A section of known keys is read through a table of struct yfield, one
 * row a key, built where it is used (git's parse-options is the model):
 *
 *     struct yfield fields[] = {
 *         yfield_string("dir", &b->dir, "backup dir"),
 *         yfield_skip("keep"),
 *         yfield_end(),
 *     };
 *     if (yread_fields(r, node, "backup", fields) < 0)
 *         return -1;
 *
 * The table names the keys once: it drives both the reading and the
 * "unknown key" check.  Rows are made by the yfield_*() functions, whose
 * argument types say what each kind of value is read into.
 */
#ifndef YREAD_H
#define YREAD_H

#include "strv.h"
#include "tterr.h"
#include "yamltree.h"

/* Warnings kept in one yread's list; past it, one line says more were left out. */
#define YREAD_MAX_WARNINGS 1000

struct yread {
    struct tt_err *err;
    const char *file;      /* named when there is no node to point at */
    struct strv *warnings; /* receives yread_warn()'s "file:line:col: message" */
    /*
     * An unknown key in a table-read section is a warning (compose files:
     * the specification grows) rather than an error (plans: a misspelt key
     * would silently skip a check).
     */
    int lenient;
};

/* Fills r->err with "file:line:col: message" about n and returns -1. */
int yread_error(const struct yread *r, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds "file:line:col: message" about n to r->warnings. */
void yread_warn(const struct yread *r, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A scalar that is not null; *out is borrowed from the tree. */
int yread_scalar(const struct yread *r, const struct ynode *n, const char *what, const char **out);
/* The same, copied into *dst (what was there is freed). */
int yread_string(const struct yread *r, const struct ynode *n, const char *what, char **dst);
/* true/false (also True, TRUE, yes, and False, FALSE, no). */
int yread_bool(const struct yread *r, const struct ynode *n, const char *what, int *out);
/* A whole number of at least min. */
int yread_int(const struct yread *r, const struct ynode *n, const char *what, int min, int *out);
/* A duration such as "1m30s" or "500ms", in nanoseconds. */
int yread_duration(const struct yread *r, const struct ynode *n, const char *what, long long *ns);
/* A mapping; reading its keys is the caller's. */
int yread_map(const struct yread *r, const struct ynode *n, const char *what);
/* A sequence; reading its items is the caller's. */
int yread_list(const struct yread *r, const struct ynode *n, const char *what);
/* A string, or a list of strings; out is cleared first, and again on an error. */
int yread_strings(const struct yread *r, const struct ynode *n, const char *what, struct strv *out);
/* One of names (NULL-terminated); *index receives its position. */
int yread_choice(const struct yread *r, const struct ynode *n, const char *what,
                 const char *const *names, int *index);

enum yfield_kind {
    YFIELD_STRING,   /* char **: a single value */
    YFIELD_STRINGS,  /* struct strv *: a string or a list of strings */
    YFIELD_BOOL,     /* int *: true or false */
    YFIELD_INT,      /* int *: a whole number of at least .min */
    YFIELD_DURATION, /* long long *: nanoseconds */
    YFIELD_MILLIS,   /* long *: a duration above zero, in milliseconds */
    YFIELD_NAME,     /* char **: one of .names */
    YFIELD_INDEX,    /* int *: the position of the value in .names */
    YFIELD_SECTION,  /* a mapping read by the table .section */
    YFIELD_SKIP,     /* a known key the caller reads itself */
};

struct yfield {
    const char *key; /* NULL ends a table */
    enum yfield_kind kind;
    void *dst;                    /* where the value goes, of the type the kind says */
    const char *what;             /* named in messages; NULL: the key */
    int min;                      /* YFIELD_INT */
    const char *const *names;     /* YFIELD_NAME and YFIELD_INDEX, NULL-terminated */
    const struct yfield *section; /* YFIELD_SECTION */
    const char *missing;          /* a required key: the message when it is absent */
};

/* Rows of a table; what NULL: messages name the key. */
struct yfield yfield_string(const char *key, char **dst, const char *what);
struct yfield yfield_strings(const char *key, struct strv *dst, const char *what);
struct yfield yfield_bool(const char *key, int *dst, const char *what);
struct yfield yfield_int(const char *key, int *dst, const char *what, int min);
struct yfield yfield_duration(const char *key, long long *ns, const char *what);
struct yfield yfield_millis(const char *key, long *ms, const char *what);
struct yfield yfield_name(const char *key, char **dst, const char *what, const char *const *names);
struct yfield yfield_index(const char *key, int *dst, const char *what, const char *const *names);
/* A mapping whose keys the table fields reads; what names it in messages. */
struct yfield yfield_section(const char *key, const struct yfield *fields, const char *what);
struct yfield yfield_skip(const char *key);
/* The row f for a key that must be given; missing says what to write when it is not. */
struct yfield yfield_required(struct yfield f, const char *missing);
/* The row that ends a table. */
struct yfield yfield_end(void);

/* The row for key, or NULL. */
const struct yfield *yfield_find(const struct yfield *fields, const char *key);
/* Reads value as the row f says. */
int yread_field(const struct yread *r, const struct yfield *f, const struct ynode *value);
/*
 * Reads every key of the mapping map by the table fields.  A key the table
 * does not name fails with a "did you mean" hint, or is only warned about
 * when r->lenient; then a required key that is absent fails, pointing at
 * the mapping.
 */
int yread_fields(const struct yread *r, const struct ynode *map, const char *what,
                 const struct yfield *fields);

#endif
