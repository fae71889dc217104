/*
 * vars.h - variables for Compose interpolation: where they come from
 * (the process environment, .env and --env-file files) and how "${...}"
 * expressions in a compose file are replaced by them.
 */
#ifndef VARS_H
#define VARS_H

#include <stddef.h>

#include "buf.h"
#include "strindex.h"
#include "strv.h"
#include "tterr.h"
#include "yamltree.h"

/* An ordered set of NAME=value pairs; a later set of the same name replaces. */
struct vars {
    struct strv names;
    struct strv values;
    struct strindex index; /* names → position, so a big .env file stays linear */
};

/* Limits on what one value or document may make interpolation do (hostile input). */
#define VARS_MAX_NESTING 64            /* "${" inside "${" */
#define VARS_MAX_EXPANSION (64u << 20) /* bytes substituted into one document */
#define VARS_MAX_UNSET_WARNINGS 100    /* "variable X is not set" warnings kept */
#define VARS_MAX_DOTENV 100000         /* NAME=value lines in one env file */

void vars_set(struct vars *v, const char *name, const char *value);
const char *vars_get(const struct vars *v, const char *name); /* NULL when unset */
void vars_clear(struct vars *v);
/* Copies every variable of the process environment into v (replacing). */
void vars_add_environ(struct vars *v);

/*
 * Reads a dotenv file (NAME=value lines; "export", comments, single and
 * double quotes, inline " #" comments after unquoted values).  Values from
 * the file replace those in v only where v has none, unless override is set.
 * A missing file is an error only when required is set.
 */
int vars_load_dotenv(struct vars *v, const char *path, int required, int override,
                     struct tt_err *err);

/* The same, from memory; name is used in messages. */
int vars_parse_dotenv(struct vars *v, const char *name, const char *data, size_t len, int override,
                      struct tt_err *err);

/*
 * Replaces $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err},
 * ${NAME?err}, ${NAME:+alt}, ${NAME+alt} and $$ in text, appending to out.
 * file/line/col locate text for error messages.  A variable that is unset
 * and has no default becomes "" and a warning is added to warnings.
 * "${" nested deeper than VARS_MAX_NESTING, or values substituted past
 * VARS_MAX_EXPANSION bytes, are errors at file:line:col.
 */
int vars_interpolate(const struct vars *v, const char *text, struct buf *out, const char *file,
                     int line, int col, struct strv *warnings, struct tt_err *err);

/*
 * The names of the variables text uses that are unset and have no default
 * (those vars_interpolate() would warn about), each pushed once on names.
 * -1 with err set (at file:line:col) when text is not a valid
 * interpolation or a ${NAME:?message} fails.
 */
int vars_unset_in(const struct vars *v, const char *text, const char *file, int line, int col,
                  struct strv *names, struct tt_err *err);

/*
 * Interpolates every scalar value (not keys) of doc in place; nodes shared
 * through aliases are interpolated once.  The document with every alias
 * expanded must stay within YDOC_MAX_BYTES after interpolation too; each
 * node's bytes are updated.
 */
int vars_interpolate_doc(const struct vars *v, struct ydoc *doc, struct strv *warnings,
                         struct tt_err *err);

#endif
