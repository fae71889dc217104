/*
 * vars.c - dotenv files and Compose-style interpolation.
 *
 * Interpolation is a small recursive-descent scanner: "${" starts an
 * expression that runs to its matching "}", so a default may itself hold
 * "${OTHER}" expressions, which are interpolated only when used.
 */
#include "vars.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static const char *var_name(const void *ctx, size_t pos)
{
    return ((const struct vars *)ctx)->names.v[pos];
}

void vars_set(struct vars *v, const char *name, const char *value)
{
    strindex_reserve(&v->index, v->names.n, 1, var_name, v);
    size_t *slot = strindex_slot(&v->index, name, var_name, v);
    if (*slot) {
        free(v->values.v[*slot - 1]);
        v->values.v[*slot - 1] = xstrdup(value);
        return;
    }
    strv_push(&v->names, name);
    strv_push(&v->values, value);
    *slot = v->names.n;
}

const char *vars_get(const struct vars *v, const char *name)
{
    size_t pos = strindex_find(&v->index, name, var_name, v);
    return pos ? v->values.v[pos - 1] : NULL;
}

void vars_clear(struct vars *v)
{
    strv_clear(&v->names);
    strv_clear(&v->values);
    strindex_clear(&v->index);
}

void vars_add_environ(struct vars *v)
{
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue;
        char *name = xstrndup(*e, (size_t)(eq - *e));
        vars_set(v, name, eq + 1);
        free(name);
    }
}

static int is_name_start(int c)
{
    return isalpha(c) || c == '_';
}

static int is_name_char(int c)
{
    return isalnum(c) || c == '_';
}

/* Parses the value part of a dotenv line (after '='), into out. */
static int dotenv_value(const char *p, struct buf *out, const char *path, int lineno,
                        struct tt_err *err)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        while (*p && *p != q) {
            if (q == '"' && *p == '\\' && p[1]) {
                p++;
                buf_addc(out, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
            } else {
                buf_addc(out, *p);
            }
            p++;
        }
        if (*p != q)
            return tt_error_at(err, path, lineno, 1,
                               "unterminated %c quote in value: close the quote on the same "
                               "line",
                               q);
        return 0;
    }
    const char *end = p;
    for (const char *s = p; *s; s++) {
        if (*s == '#' && (s == p || s[-1] == ' ' || s[-1] == '\t'))
            break;
        end = s + 1;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    buf_add(out, p, (size_t)(end - p));
    return 0;
}

int vars_parse_dotenv(struct vars *v, const char *name, const char *data, size_t len, int override,
                      struct tt_err *err)
{
    struct buf val = {0}, line = {0};
    int lineno = 0, rc = 0;
    size_t pos = 0, nset = 0;

    while (pos < len && rc == 0) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
        buf_reset(&line);
        buf_add(&line, data + pos, n);
        pos += n + (nl ? 1 : 0);
        lineno++;
        char *p = line.data, *key;
        if (memchr(p, '\0', line.len)) {
            rc = tt_error_at(err, name, lineno, 1, "a NUL byte in an env file: is it binary?");
            break;
        }
        while (line.len && (p[line.len - 1] == '\r'))
            p[--line.len] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        key = p;
        while (is_name_char((unsigned char)*p) || *p == '.' || *p == '-')
            p++;
        char *key_end = p;
        while (*p == ' ' || *p == '\t')
            p++;
        if (key_end == key || (*p != '=' && *p != '\0')) {
            rc = tt_error_at(err, name, lineno, (int)(p - line.data) + 1,
                             "expected NAME=value: names are letters, digits and '_'");
            break;
        }
        if (*p == '\0')
            continue; /* a bare NAME passes the environment's value through */
        if (++nset > VARS_MAX_DOTENV) {
            rc = tt_error_at(err, name, lineno, 1,
                             "more than %d variables in one env file: is it an env file?",
                             VARS_MAX_DOTENV);
            break;
        }
        *key_end = '\0';
        buf_reset(&val);
        if (dotenv_value(p + 1, &val, name, lineno, err) < 0) {
            rc = -1;
            break;
        }
        if (override || !vars_get(v, key))
            vars_set(v, key, val.data ? val.data : "");
    }
    buf_release(&val);
    buf_release(&line);
    return rc;
}

int vars_load_dotenv(struct vars *v, const char *path, int required, int override,
                     struct tt_err *err)
{
    struct buf data = {0};

    if (!required && access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    if (yfile_read(path, "env file", &data, err) < 0) {
        buf_release(&data);
        return -1;
    }
    int rc = vars_parse_dotenv(v, path, data.data, data.len, override, err);
    buf_release(&data);
    return rc;
}

struct interp {
    const struct vars *vars;
    const char *file;
    int line, col;
    struct strv *warnings;
    struct tt_err *err;
    size_t budget;      /* bytes of values that may still be substituted */
    size_t *nunset;     /* unset-variable warnings given so far */
    struct strv *unset; /* receives the name of each unset variable used (vars_unset_in), or NULL */
};

static int interp_text(struct interp *in, const char *s, size_t len, struct buf *out);

/*
 * Finds the '}' matching the "${" whose body starts at s; returns its
 * offset, -1 when there is none, -2 when "${" nests deeper than
 * VARS_MAX_NESTING inside it.  Refusing the depth here, before any
 * recursion, keeps the stack bounded and the work linear: each level
 * scans its body once, so a value costs at most VARS_MAX_NESTING passes.
 */
static long matching_brace(const char *s, size_t len)
{
    int depth = 1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
            if (++depth > VARS_MAX_NESTING)
                return -2;
            i++;
        } else if (s[i] == '}' && --depth == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* Appends a variable's value, within the budget of substituted bytes. */
static int add_value(struct interp *in, const char *val, struct buf *out)
{
    size_t n = strlen(val);
    if (n > in->budget)
        return tt_error_at(in->err, in->file, in->line, in->col,
                           "variables expand to more than %u bytes (64 MB) in this file: is a "
                           "variable used in a loop of aliases, or is its value a whole file?",
                           VARS_MAX_EXPANSION);
    in->budget -= n;
    buf_add(out, val, n);
    return 0;
}

/* Warns that name is unset; past VARS_MAX_UNSET_WARNINGS, says once that more are left out. */
static void warn_unset(struct interp *in, const char *name)
{
    if (in->unset && !strv_contains(in->unset, name))
        strv_push(in->unset, name);
    if (!in->warnings)
        return;
    if (++*in->nunset > VARS_MAX_UNSET_WARNINGS) {
        if (*in->nunset == VARS_MAX_UNSET_WARNINGS + 1)
            strv_push(in->warnings, "more variables are not set: only the first 100 such "
                                    "warnings are shown");
        return;
    }
    struct buf b = {0};
    buf_printf(&b,
               "%s:%d:%d: variable %s is not set, using an empty string (set it or give a "
               "default: ${%s:-value})",
               in->file, in->line, in->col, name, name);
    if (!strv_contains(in->warnings, b.data))
        strv_push(in->warnings, b.data);
    buf_release(&b);
}

/* Handles the body of "${...}" (without the braces). */
static int interp_braced(struct interp *in, const char *s, size_t len, struct buf *out)
{
    size_t i = 0;

    if (len == 0 || !is_name_start((unsigned char)s[0]))
        return tt_error_at(in->err, in->file, in->line, in->col,
                           "invalid interpolation \"${%.*s}\": a variable name starts with a "
                           "letter or '_'; write \"$$\" for a literal '$'",
                           (int)len, s);
    while (i < len && is_name_char((unsigned char)s[i]))
        i++;
    char *name = xstrndup(s, i);
    const char *val = vars_get(in->vars, name);
    int rc = 0;

    if (i == len) {
        if (!val)
            warn_unset(in, name);
        else
            rc = add_value(in, val, out);
        free(name);
        return rc;
    }
    int colon = s[i] == ':';
    if (colon)
        i++;
    char op = i < len ? s[i] : '\0';
    const char *arg = s + i + 1;
    size_t arglen = i < len ? len - i - 1 : 0;
    int missing = colon ? (!val || !*val) : !val;

    switch (op) {
    case '-':
        if (missing)
            rc = interp_text(in, arg, arglen, out);
        else
            rc = add_value(in, val, out);
        break;
    case '+':
        if (!missing)
            rc = interp_text(in, arg, arglen, out);
        break;
    case '?':
        if (missing) {
            struct buf msg = {0};
            rc = interp_text(in, arg, arglen, &msg);
            if (rc == 0)
                rc = tt_error_at(in->err, in->file, in->line, in->col,
                                 "required variable %s is %s: %s (set it in the environment "
                                 "or in .env)",
                                 name, val ? "empty" : "missing",
                                 msg.len ? msg.data : "no message given");
            buf_release(&msg);
        } else {
            rc = add_value(in, val, out);
        }
        break;
    default:
        rc = tt_error_at(in->err, in->file, in->line, in->col,
                         "invalid interpolation \"${%.*s}\": after the name use :-, -, :?, ?, "
                         ":+ or +; write \"$$\" for a literal '$'",
                         (int)len, s);
    }
    free(name);
    return rc;
}

static int interp_text(struct interp *in, const char *s, size_t len, struct buf *out)
{
    size_t i = 0;

    while (i < len) {
        const char *d = memchr(s + i, '$', len - i);
        if (!d) {
            buf_add(out, s + i, len - i);
            break;
        }
        buf_add(out, s + i, (size_t)(d - (s + i)));
        i = (size_t)(d - s) + 1;
        if (i < len && s[i] == '$') {
            buf_addc(out, '$');
            i++;
        } else if (i < len && s[i] == '{') {
            long end = matching_brace(s + i + 1, len - i - 1);
            if (end == -2)
                return tt_error_at(in->err, in->file, in->line, in->col,
                                   "\"${\" nested more than %d deep: write the default without "
                                   "so many levels",
                                   VARS_MAX_NESTING);
            if (end < 0)
                return tt_error_at(in->err, in->file, in->line, in->col,
                                   "unterminated \"${\" in \"%.*s\": close it with '}' or "
                                   "write \"$$\" for a literal '$'",
                                   (int)len, s);
            if (interp_braced(in, s + i + 1, (size_t)end, out) < 0)
                return -1;
            i += (size_t)end + 2;
        } else if (i < len && is_name_start((unsigned char)s[i])) {
            size_t j = i;
            while (j < len && is_name_char((unsigned char)s[j]))
                j++;
            char *name = xstrndup(s + i, j - i);
            const char *val = vars_get(in->vars, name);
            int rc = 0;
            if (val)
                rc = add_value(in, val, out);
            else
                warn_unset(in, name);
            free(name);
            if (rc < 0)
                return -1;
            i = j;
        } else {
            return tt_error_at(in->err, in->file, in->line, in->col,
                               "invalid interpolation in \"%.*s\": '$' must start $NAME or "
                               "${NAME}; write \"$$\" for a literal '$'",
                               (int)len, s);
        }
    }
    return 0;
}

int vars_interpolate(const struct vars *v, const char *text, struct buf *out, const char *file,
                     int line, int col, struct strv *warnings, struct tt_err *err)
{
    size_t nunset = 0;
    struct interp in = {v, file, line, col, warnings, err, VARS_MAX_EXPANSION, &nunset, NULL};
    buf_grow(out, 0);
    return interp_text(&in, text, strlen(text), out);
}

int vars_unset_in(const struct vars *v, const char *text, const char *file, int line, int col,
                  struct strv *names, struct tt_err *err)
{
    size_t nunset = 0;
    struct buf out = {0};
    struct interp in = {v, file, line, col, NULL, err, VARS_MAX_EXPANSION, &nunset, names};
    int rc = interp_text(&in, text, strlen(text), &out);
    buf_release(&out);
    return rc;
}

/* Interpolates one scalar in place (once: aliases share it). */
static int interpolate_scalar(struct interp *in, struct ydoc *doc, struct ynode *n)
{
    struct buf out = {0};
    if (n->interpolated || !memchr(n->str, '$', n->len)) {
        n->interpolated = 1;
        return 0;
    }
    in->file = n->file;
    in->line = n->line;
    in->col = n->col;
    buf_grow(&out, 0);
    if (interp_text(in, n->str, n->len, &out) < 0) {
        buf_release(&out);
        return -1;
    }
    n->str = arena_strndup(&doc->arena, out.data, out.len);
    n->len = out.len;
    n->quoted = 1;
    n->interpolated = 1;
    buf_release(&out);
    return 0;
}

/*
 * Interpolates the values under n and sets n->bytes to its size with
 * every alias expanded.  The walk follows aliases, so it visits the
 * expanded tree, which yamltree.c has capped at YDOC_MAX_WEIGHT nodes.
 */
static int interpolate_node(struct interp *in, struct ydoc *doc, struct ynode *n)
{
    if (n->kind == YNODE_SCALAR) {
        if (interpolate_scalar(in, doc, n) < 0)
            return -1;
        n->bytes = n->len;
        return 0;
    }
    size_t step = n->kind == YNODE_MAP ? 2 : 1, start = n->kind == YNODE_MAP ? 1 : 0;
    size_t bytes = 0;
    for (size_t i = 0; i < n->n * step; i++) {
        struct ynode *c = n->items[i];
        if (i % step == start % step && interpolate_node(in, doc, c) < 0)
            return -1;
        bytes = ydoc_bytes_add(bytes, c->bytes);
    }
    n->bytes = bytes;
    if (bytes > YDOC_MAX_BYTES)
        return tt_error_at(in->err, n->file, n->line, n->col,
                           "after interpolation this expands to more than %u bytes (64 MB) "
                           "with its aliases: is a long variable used under an alias?",
                           YDOC_MAX_BYTES);
    return 0;
}

int vars_interpolate_doc(const struct vars *v, struct ydoc *doc, struct strv *warnings,
                         struct tt_err *err)
{
    size_t nunset = 0;
    struct interp in = {v, doc->file, 0, 0, warnings, err, VARS_MAX_EXPANSION, &nunset, NULL};
    return doc->root ? interpolate_node(&in, doc, doc->root) : 0;
}
